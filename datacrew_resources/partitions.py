"""A partition of a transformation: its spec narrowed to one slice, and where the slice lives."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlglot import exp

from .config import Home, TransformationSpec
from .config.spec import FilterRule

PARTITION_FILES = "[!.]*.parquet"


def partition_file(home: Home, spec: TransformationSpec, partition_key: str) -> Path:
    """`outputs/<layer>/<name>/<key>.parquet`: one file per partition, replaced atomically."""
    # Keys are safe file names: static values are validated, time keys are dates.
    return home.outputs_dir.joinpath(*spec.asset_key) / f"{partition_key}.parquet"


def partition_glob(home: Home, spec: TransformationSpec) -> str:
    """Every materialized partition of the asset, as one readable relation.

    `[!.]` skips the writer's hidden temporary files, which live in the same directory.
    """
    return str(home.outputs_dir.joinpath(*spec.asset_key) / PARTITION_FILES)


def scoped_spec(
    spec: TransformationSpec, partition_key: str, window: tuple[datetime, datetime] | None
) -> TransformationSpec:
    """The spec with one more rule keeping only the partition's rows."""
    rule = FilterRule(filter=slice_condition(spec, partition_key, window))
    return spec.model_copy(update={"rules": [*spec.rules, rule]})


def slice_condition(
    spec: TransformationSpec, partition_key: str, window: tuple[datetime, datetime] | None
) -> str:
    """`column = 'value'` or `start <= column < end`, built by sqlglot (values are literals)."""
    partitions = spec.partitions
    column = exp.column(partitions.column, quoted=True)
    if partitions.type == "static":
        return exp.EQ(this=column, expression=exp.Literal.string(partition_key)).sql(dialect="duckdb")
    declared = next(c.type for c in spec.target_schema.columns if c.name == partitions.column)
    start, end = window
    bounds = [_typed(moment, declared) for moment in (start, end)]
    condition = exp.and_(
        exp.GTE(this=column.copy(), expression=bounds[0]),
        exp.LT(this=column.copy(), expression=bounds[1]),
    )
    return condition.sql(dialect="duckdb")


def _typed(moment: datetime, declared: str) -> exp.Expression:
    text = moment.date().isoformat() if declared.upper() == "DATE" else moment.isoformat()
    return exp.cast(exp.Literal.string(text), exp.DataType.build(declared, dialect="duckdb"))
