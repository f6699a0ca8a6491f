"""Writing the generated `dagster.yaml` into `$DAGSTER_HOME`; a file datacrew did not write is never lost."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datacrew_resources.config import ConfigError, ConfigErrors, Home, PlatformConfig

from .settings import INSTANCE_FILE, MARKER, render_instance_yaml


@dataclass(frozen=True)
class Written:
    path: Path
    changed: bool  # False: the file already said the same
    kept: Path | None = None  # where a file of someone else's was moved before writing


def instance_yaml_path(home: Home) -> Path:
    return home.dagster_home / INSTANCE_FILE


def is_datacrews(path: Path) -> bool:
    """Written by datacrew (its first line), so it may be replaced."""
    return path.read_text().startswith(MARKER)


def write_instance_yaml(
    home: Home, config: PlatformConfig, env: Mapping[str, str] | None = None, *, replace_own: bool = False
) -> Written:
    """Write the instance file for `config`. A file without datacrew's first line is someone's
    own instance: refused, or with `replace_own` first moved aside to `dagster.yaml.<time>.bak`."""
    path = instance_yaml_path(home)
    text = render_instance_yaml(config, env)
    kept = None
    if path.exists():
        if path.read_text() == text:
            return Written(path, changed=False)
        if not is_datacrews(path):
            if not replace_own:
                raise ConfigError(
                    "not written by datacrew, so left as it is (`datacrew instance --write` moves it aside)",
                    file=str(path),
                )
            kept = path.with_name(f"{INSTANCE_FILE}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}.bak")
            os.replace(path, kept)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Replaced in one step: a Dagster process reading it meanwhile sees the old file or the new.
    staged = path.with_name(f".{INSTANCE_FILE}.{os.getpid()}.tmp")
    staged.write_text(text)
    os.replace(staged, path)
    return Written(path, changed=True, kept=kept)


def refresh_instance_yaml(home: Home) -> None:
    """What every command does first: bring a datacrew-written instance file up to date with
    `datacrew.yaml`. An invalid `datacrew.yaml` changes nothing (the command reports it), and
    an instance file of one's own is kept."""
    path = instance_yaml_path(home)
    if path.exists() and not is_datacrews(path):
        return
    try:
        config = home.load_config() if home.config_path.exists() else PlatformConfig()
    except ConfigErrors:
        if path.exists():
            return
        config = PlatformConfig()  # a first file all the same, so Dagster finds an instance
    write_instance_yaml(home, config)
