"""The platform home: where `datacrew.yaml`, specs and all state live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ConfigErrors
from .platform import CONFIG_FILE, PlatformConfig, load_platform_config
from .spec import LoadedSpec, load_spec

HOME_ENV = "DATACREW_HOME"


@dataclass(frozen=True)
class Home:
    """Paths inside one platform home. Nothing is created here."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike | None = None) -> "Home":
        """`--home` wins, then `DATACREW_HOME`, then `./datacrew_home`."""
        chosen = explicit or os.environ.get(HOME_ENV) or "datacrew_home"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def catalog_path(self) -> Path:
        return self.state_dir / "catalog.sqlite"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance: `$DAGSTER_HOME` when set (the architecture's rule), else inside the home."""
        return Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else self.root / "dagster"

    @property
    def tmp_dir(self) -> Path:
        """Spill space for DuckDB; inside the home so nothing lands in the working directory."""
        return self.state_dir / "tmp"

    def resolve_uri(self, uri: str) -> Path:
        """A source uri as a path: relative uris are relative to the home (`SourceConfig` refuses `..`)."""
        path = Path(uri).expanduser()
        return path if path.is_absolute() else (self.root / path)

    def output_path(self, asset_key: list[str], extension: str = "parquet") -> Path:
        return self.outputs_dir.joinpath(*asset_key[:-1]) / f"{asset_key[-1]}.{extension}"

    def load_config(self) -> PlatformConfig:
        if not self.config_path.exists():
            raise ConfigErrors(
                [ConfigError("no platform home here (run `datacrew demo` to create one)", file=str(self.config_path))]
            )
        return load_platform_config(self.config_path)

    def spec_paths(self, config: PlatformConfig) -> list[Path]:
        return sorted(p for p in self.root.glob(config.transformations) if p.is_file())

    def load_specs(self, config: PlatformConfig) -> list[LoadedSpec]:
        """Every spec the config's glob names; all problems reported together."""
        specs: list[LoadedSpec] = []
        errors: list[ConfigError] = []
        for path in self.spec_paths(config):
            try:
                specs.append(load_spec(path, display=str(path.relative_to(self.root))))
            except ConfigErrors as e:
                errors.extend(e.errors)
        names: dict[str, Path] = {}
        for loaded in specs:
            key = loaded.spec.key_string
            if key in names:
                errors.append(
                    ConfigError(
                        f"duplicate transformation (also in {names[key].relative_to(self.root)})",
                        file=str(loaded.path.relative_to(self.root)),
                        field="name",
                        value=loaded.spec.name,
                    )
                )
            names[key] = loaded.path
        if errors:
            raise ConfigErrors(errors)
        return specs
