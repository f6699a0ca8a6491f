"""`datacrew validate`: config, specs, sources, agents and compiled SQL, every problem at once."""

from __future__ import annotations

from datacrew_resources.catalog.models import DatasetRecord
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, ConfigErrors, Home, LoadedSpec, PlatformConfig
from datacrew_resources.config.platform import CONFIG_FILE
from datacrew_resources.context import check_clearance, classifications, run_agent
from datacrew_resources.delegation.targets import task_targets
from datacrew_resources.quality.metrics import split_reference
from datacrew_resources.source_refs import build_engine


def validate_home(home: Home) -> list[str]:
    """Raise ConfigErrors listing every problem; return the spec names that passed."""
    config = home.load_config()
    specs = home.load_specs(config)
    records = CatalogStore.for_home(home, config).all()
    discovered = {r.key_string for r in records}
    produced = {l.spec.key_string for l in specs}
    classified = classifications(config, records, specs)
    engine = build_engine(home, config, specs)
    errors: list[ConfigError] = []
    try:
        task_targets(config, specs, root=home.root)
    except ConfigError as e:
        errors.append(e)
    for loaded in specs:
        spec, shown = loaded.spec, _shown(home, loaded.path)
        missing = [
            (i, key) for i, key in enumerate(spec.sources) if key not in discovered and key not in produced
        ]
        for index, key in missing:
            hint = "run `datacrew discover`" if not discovered else "not in the catalog"
            errors.append(ConfigError(f"unknown source ({hint})", file=shown, field=f"sources[{index}]", value=key))
        try:
            check_clearance(run_agent(config, spec.agent), loaded, classified, file=shown)
        except ConfigError as e:
            errors.append(e if e.file else ConfigError(e.problem, file=shown, field=e.field, value=e.value))
        if missing:
            continue
        try:
            engine.compile(spec, file=shown)
        except ConfigError as e:
            errors.append(e)
    errors += dataset_problems(config, records, specs)
    if errors:
        raise ConfigErrors(errors)
    return [l.spec.key_string for l in specs]


def dataset_problems(config: PlatformConfig, records: list[DatasetRecord], specs: list[LoadedSpec]) -> list[ConfigError]:
    """`datasets:` keys, columns and references that neither the catalog nor a spec knows."""
    columns = {r.key_string: {c.name for c in r.columns} for r in records}
    readable = {**columns, **{l.spec.key_string: {c.name for c in l.spec.target_schema.columns} for l in specs}}
    errors = []
    for key, declared in sorted(config.datasets.declared.items()):
        field = f"datasets.{key}"
        if key not in columns:
            hint = "not in the catalog" if records else "not in the catalog (run `datacrew discover`)"
            errors.append(ConfigError(hint, file=CONFIG_FILE, field=field, value=key))
            continue
        errors += [
            ConfigError(f"not a column of {key}", file=CONFIG_FILE, field=f"{field}.{path}", value=name)
            for path, name in declared.named_columns()
            if name not in columns[key]
        ]
        for name, rules in declared.columns.items():
            if rules.references is None:
                continue
            target, column = split_reference(rules.references)
            where = f"{field}.columns.{name}.references"
            if target not in readable:
                errors.append(ConfigError("no such dataset or transformation", file=CONFIG_FILE, field=where,
                                          value=rules.references))
            elif column not in readable[target]:
                errors.append(ConfigError(f"{target} has no column {column!r}", file=CONFIG_FILE, field=where,
                                          value=rules.references))
    return errors


def _shown(home: Home, path) -> str:
    return str(path.relative_to(home.root)) if path.is_relative_to(home.root) else str(path)
