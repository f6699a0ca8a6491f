"""Discovery: scan the configured sources and write what was found to the catalog store.

Everything is checked and scanned before anything is written, and all
sources are written in one transaction: a bad source (unsupported type,
missing path, unreadable file) raises a one-line `ConfigError` and leaves
the catalog exactly as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType
from ..config.platform import CONFIG_FILE
from .lake import scan_lake
from .models import DatasetRecord
from .store import CatalogStore
from .warehouse import scan_warehouse

Connector = Callable[[SourceConfig, Path], list[DatasetRecord]]

CONNECTORS: dict[SourceType, Connector] = {
    SourceType.data_lake: scan_lake,
    SourceType.data_warehouse: scan_warehouse,
}
# What each connector's uri must point at.
_EXPECTED_PATH: dict[SourceType, Callable[[Path], bool]] = {
    SourceType.data_lake: Path.is_dir,
    SourceType.data_warehouse: Path.is_file,
}


@dataclass(frozen=True)
class SourceReport:
    name: str
    type: SourceType
    datasets: int
    records: int
    seconds: float


@dataclass(frozen=True)
class DiscoveryReport:
    sources: list[SourceReport]
    records: list[DatasetRecord]
    seconds: float


def discover(
    home: Home, config: PlatformConfig, *, sources: Iterable[str] | None = None
) -> DiscoveryReport:
    """Scan the sources (all, or those named) and replace their records in the catalog."""
    started = time.perf_counter()
    selected = _select(config, sources)
    paths = {source.name: _checked_path(home, source) for source in selected}
    reports: list[SourceReport] = []
    found: dict[str, list[DatasetRecord]] = {}
    for source in selected:
        source_started = time.perf_counter()
        records = CONNECTORS[source.type](source, paths[source.name])
        found[source.name] = records
        reports.append(
            SourceReport(
                name=source.name,
                type=source.type,
                datasets=len(records),
                records=sum(r.record_count for r in records),
                seconds=time.perf_counter() - source_started,
            )
        )
    CatalogStore(home.catalog_path).replace_sources(found)
    return DiscoveryReport(
        sources=reports,
        records=[r for records in found.values() for r in records],
        seconds=time.perf_counter() - started,
    )


def _select(config: PlatformConfig, names: Iterable[str] | None) -> list[SourceConfig]:
    if names is None:
        return list(config.sources)
    selected = []
    for name in names:
        source = config.source(name)
        if source is None:
            known = ", ".join(s.name for s in config.sources) or "none"
            raise ConfigError(f"no such source (known: {known})", file=CONFIG_FILE, field="sources", value=name)
        selected.append(source)
    return selected


def _checked_path(home: Home, source: SourceConfig) -> Path:
    if source.type not in CONNECTORS:
        supported = ", ".join(t.value for t in CONNECTORS)
        raise ConfigError(
            f"source type {source.type.value} is not supported yet (supported: {supported})",
            file=CONFIG_FILE,
            field=f"sources.{source.name}.type",
        )
    path = home.resolve_uri(source.uri)
    if not path.exists():
        problem = f"source {source.name!r}: path does not exist ({path})"
    elif not _EXPECTED_PATH[source.type](path):
        kind = "directory" if source.type is SourceType.data_lake else "DuckDB database file"
        problem = f"source {source.name!r}: expected a {kind} ({path})"
    else:
        return path
    raise ConfigError(problem, file=CONFIG_FILE, field=f"sources.{source.name}.uri", value=source.uri)
