"""Discovery: scan the configured sources and write what was found to the catalog store.

A scan is partial rather than refused: a source that cannot be scanned
(missing path, unsupported uri, unreachable server, bad credentials) is
reported as a `ScanError` with the connector's one-line message, its previous
records are kept untouched, and the other sources are scanned and written
(all of them in one transaction). A connector may also isolate a bad dataset
by returning `(records, errors)` instead of records: those datasets keep
their previous records and the others are updated. The lake, file share and
landing zone connectors do so for a corrupt, empty, ragged, truncated or
unreadable file. The errors of each scanned source replace its previous
ones in the catalog store (`CatalogStore.errors`); `datacrew discover` prints
them and exits 3. Only the caller's own mistake, a source name that is not
configured, refuses the whole scan (nothing is written).

A source is scanned by the connector registered for its type and its uri's
scheme (`PATH` for a plain path, else the scheme: `nats`, `redis`, `s3`).
A connector first locates the source (a path check for file-based ones, a
URL check for servers), then scans what was located. A connector that
`resumes` also gets the source's current records by dataset name, so it can
carry positions (a landing zone's last batch, a consumer's last message id)
from one scan to the next.

Each source's records then get their governance block and metadata
(`governance.govern`: PII, classification, retention, domain); connectors see
the source without the governance options.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType
from ..config.platform import CONFIG_FILE
from .fileshare import scan_fileshare
from .governance import connector_source, govern
from .lake import scan_lake
from .landing import scan_landing_zone
from .models import DatasetRecord
from .store import CatalogStore, ScanError, collector_paused
from .stream_source import public_uri
from .warehouse import scan_warehouse

PATH = "path"  # the scheme of a uri without one: a path, relative to the home or absolute

Locate = Callable[[Home, SourceConfig], Any]


def _path_locator(kind: str, expected: Callable[[Path], bool]) -> Locate:
    def locate(home: Home, source: SourceConfig) -> Path:
        path = home.resolve_uri(source.uri)
        if not path.exists():
            problem = f"source {source.name!r}: path does not exist ({path})"
        elif not expected(path):
            problem = f"source {source.name!r}: expected a {kind} ({path})"
        else:
            return path
        raise ConfigError(problem, file=CONFIG_FILE, field=f"sources.{source.name}.uri", value=source.uri)

    return locate


locate_directory = _path_locator("directory", Path.is_dir)
locate_database_file = _path_locator("DuckDB database file", Path.is_file)


def locate_url(home: Home, source: SourceConfig) -> str:
    """The uri itself, once it names a host (`nats://127.0.0.1:4222/STREAM`)."""
    if not urlsplit(source.uri).hostname:
        raise ConfigError(
            f"source {source.name!r}: expected a URL with a host",
            file=CONFIG_FILE, field=f"sources.{source.name}.uri", value=public_uri(source.uri),
        )
    return source.uri


@dataclass(frozen=True)
class Connector:
    """`scan(source, located)`, or `scan(source, located, previous)` when it `resumes`."""

    scan: Callable[..., list[DatasetRecord]]
    locate: Locate
    resumes: bool = False

    def run(self, source: SourceConfig, located: Any, previous: Mapping[str, DatasetRecord]) -> list[DatasetRecord]:
        return self.scan(source, located, previous) if self.resumes else self.scan(source, located)


def _lazy(module: str, name: str) -> Callable[..., list[DatasetRecord]]:
    """A scan function imported on first use: the NATS and Redis clients cost ~1 s to import."""

    def scan(*args: Any) -> list[DatasetRecord]:
        return getattr(importlib.import_module(module, __package__), name)(*args)

    return scan


scan_nats_streams = _lazy(".nats_streams", "scan_nats_streams")
scan_redis_streams = _lazy(".redis_streams", "scan_redis_streams")
scan_postgres = _lazy(".postgres", "scan_postgres")
scan_api_endpoints = _lazy(".api_endpoints", "scan_api_endpoints")
scan_s3_lake = _lazy(".s3_lake", "scan_s3_lake")

CONNECTORS: dict[tuple[SourceType, str], Connector] = {
    (SourceType.data_lake, PATH): Connector(scan_lake, locate_directory, resumes=True),
    (SourceType.data_lake, "s3"): Connector(scan_s3_lake, locate_url, resumes=True),
    (SourceType.data_warehouse, PATH): Connector(scan_warehouse, locate_database_file),
    (SourceType.data_warehouse, "postgresql"): Connector(scan_postgres, locate_url, resumes=True),
    (SourceType.data_warehouse, "postgres"): Connector(scan_postgres, locate_url, resumes=True),
    (SourceType.api_endpoints, "http"): Connector(scan_api_endpoints, locate_url),
    (SourceType.api_endpoints, "https"): Connector(scan_api_endpoints, locate_url),
    (SourceType.file_systems, PATH): Connector(scan_fileshare, locate_directory, resumes=True),
    (SourceType.streaming, PATH): Connector(scan_landing_zone, locate_directory, resumes=True),
    (SourceType.streaming, "nats"): Connector(scan_nats_streams, locate_url, resumes=True),
    (SourceType.streaming, "redis"): Connector(scan_redis_streams, locate_url, resumes=True),
    (SourceType.streaming, "rediss"): Connector(scan_redis_streams, locate_url, resumes=True),
}


def uri_scheme(uri: str) -> str:
    """`nats` for `nats://host/stream`; `PATH` for `data/lake` or `/srv/share`."""
    return urlsplit(uri).scheme.lower() if "://" in uri else PATH


@dataclass(frozen=True)
class SourceReport:
    name: str
    type: SourceType
    datasets: int
    records: int
    seconds: float


@dataclass(frozen=True)
class DiscoveryReport:
    """`sources`: those scanned (a source with a bad dataset among them); `records`: those written."""

    sources: list[SourceReport]
    records: list[DatasetRecord]
    seconds: float
    errors: list[ScanError]

    @property
    def partial(self) -> bool:
        return bool(self.errors)


def discover(
    home: Home, config: PlatformConfig, *, sources: Iterable[str] | None = None
) -> DiscoveryReport:
    """Scan the sources (all, or those named) and replace their records in the catalog.

    A source or dataset that cannot be scanned keeps its previous records; see the module docstring.
    The cyclic garbage collector is paused meanwhile (`collector_paused`: a scan builds
    records by the thousand, and no cycles).
    """
    with collector_paused():
        return _discover(home, config, sources)


def _discover(home: Home, config: PlatformConfig, sources: Iterable[str] | None) -> DiscoveryReport:
    started = time.perf_counter()
    selected = _select(config, sources)
    store = CatalogStore.for_home(home, config)
    # Previous records: positions to resume from, PII findings and update history to keep,
    # and what stays in the catalog for a source or dataset that fails this time.
    current = store.all()
    reports: list[SourceReport] = []
    found: dict[str, list[DatasetRecord]] = {}
    errors: list[ScanError] = []
    for source in selected:
        source_started = time.perf_counter()
        previous = {r.dataset_name: r for r in current if r.source == source.name and r.source_type is source.type}
        try:
            scanned, failed = _scan(home, source, previous)
            records = govern(source, scanned, previous, config.datasets)
        except ConfigError as e:
            errors.append(ScanError(source.name, None, e.render()))
            continue
        errors += failed
        # A dataset that failed keeps its previous record, governance and history included.
        kept = [previous[e.dataset] for e in failed if e.dataset in previous]
        found[source.name] = sorted([*records, *kept], key=lambda r: r.dataset_name)
        reports.append(
            SourceReport(
                name=source.name,
                type=source.type,
                datasets=len(records),
                records=sum(r.record_count for r in records),
                seconds=time.perf_counter() - source_started,
            )
        )
    store.replace_sources(found)
    store.record_errors([source.name for source in selected], errors)
    return DiscoveryReport(
        sources=reports,
        records=[r for records in found.values() for r in records],
        seconds=time.perf_counter() - started,
        errors=errors,
    )


def _scan(
    home: Home, source: SourceConfig, previous: Mapping[str, DatasetRecord]
) -> tuple[list[DatasetRecord], list[ScanError]]:
    """The source's records and the datasets its connector could not read (raises for the whole source)."""
    connector = _connector(source)
    located = connector.locate(home, source)
    scanned = connector.run(connector_source(source), located, previous)
    if isinstance(scanned, tuple):
        records, failed = scanned
        return list(records), list(failed)
    return scanned, []


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


def _connector(source: SourceConfig) -> Connector:
    schemes = [scheme for type_, scheme in CONNECTORS if type_ is source.type]
    if not schemes:
        supported = ", ".join(dict.fromkeys(type_.value for type_, _ in CONNECTORS))
        raise ConfigError(
            f"source type {source.type.value} is not supported yet (supported: {supported})",
            file=CONFIG_FILE,
            field=f"sources.{source.name}.type",
        )
    scheme = uri_scheme(source.uri)
    if scheme not in schemes:
        raise ConfigError(
            f"source {source.name!r}: {source.type.value} sources cannot be read from {scheme!r} uris"
            f" (supported: {', '.join(schemes)})",
            file=CONFIG_FILE, field=f"sources.{source.name}.uri", value=source.uri,
        )
    return CONNECTORS[(source.type, scheme)]
