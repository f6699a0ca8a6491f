"""Every input a transformation can read, as the engine sees it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .catalog.models import DatasetRecord
from .catalog.store import CatalogStore
from .config import Home, LoadedSpec, PlatformConfig
from .config.platform import EngineConfig
from .engine import Engine, SourceRef, outputs
from .engine.sources import Recorded
from .partitions import partition_glob
from .s3_copies import with_s3_copies


def record_source(record: DatasetRecord) -> SourceRef:
    return SourceRef(
        key=record.key_string,
        kind=record.format,
        location=record.location,
        table=record.table,
        hive_partitioning=bool(record.partition_keys),
        columns=tuple((c.name, c.type) for c in record.columns),
        recorded=Recorded(record.record_count, record.size_bytes, record.last_updated),
    )


def spec_source(home: Home, loaded: LoadedSpec) -> SourceRef:
    """Another transformation's output as an input; its columns are its target schema."""
    spec = loaded.spec
    columns = tuple((c.name, c.type) for c in spec.target_schema.columns)
    if spec.partitions:
        return SourceRef(key=spec.key_string, kind="parquet", location=partition_glob(home, spec), columns=columns)
    return outputs.source_ref(spec.key_string, outputs.resolve_location(spec, home.outputs_dir), columns)


def source_refs(home: Home, specs: list[LoadedSpec]) -> dict[str, SourceRef]:
    """Every readable input by `source/dataset` key: discovered datasets and transformation outputs."""
    refs = {r.key_string: record_source(r) for r in CatalogStore.for_home(home).all()}
    refs.update({l.spec.key_string: spec_source(home, l) for l in specs})
    return refs


def build_engine(
    home: Home,
    config: PlatformConfig,
    specs: list[LoadedSpec],
    *,
    limits: EngineConfig | None = None,
    readable: Callable[[str], bool] | None = None,
    reads: Iterable[str] = (),
) -> Engine:
    """An engine over every input, or only the `readable` ones, within `limits` (default: the
    platform's); the `s3://` inputs among `reads` are copied to local files first."""
    refs = source_refs(home, specs)
    if readable is not None:
        refs = {key: ref for key, ref in refs.items() if readable(key)}
    refs = with_s3_copies(home, config, refs, reads)
    return Engine(refs, output_dir=home.outputs_dir, temp_dir=home.tmp_dir, config=limits or config.engine)
