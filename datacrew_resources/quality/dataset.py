"""The quality checks of one discovered dataset, as plain figures (no Dagster).

- schema_conformity: the columns and DuckDB types the dataset has now, read from its
  metadata (parquet footer, DESCRIBE of a table, a CSV/JSON sniff), against the
  catalog's record of them: missing, extra and retyped columns.
- completeness, consistency, accuracy: one SQL scan (`metrics.measure`) with the rules
  of `datasets:` in datacrew.yaml; a few failing rows are read only for failing checks.
- row_count_anomaly: the scan's row count against earlier ones (`anomaly`).

The data's modification time is read too (newest file, or the database file and its
WAL), for Dagster's freshness checks. A dataset that cannot be read (its file vanished,
its warehouse is locked or gone) fails every check with one line saying why. Kinds not
scanned here (`UNSCANNABLE`: workbook sheets, message streams, PostgreSQL, APIs) fail them with the reason,
and the Dagster checks only warn for those. An `s3://` dataset is assessed on its local
copy (`s3_copies`): the Dagster checks hand this module the record pointing at it.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp

from ..catalog.models import DatasetRecord
from ..config import TargetColumn, TargetSchema
from ..config.datasets import FIGURES, SCHEMA_CONFORMITY, DatasetSettings
from ..config.errors import first_line, one_line
from ..engine import SourceRef
from ..engine.outputs import WarehouseLocked
from ..engine.sql_guard import DIALECT
from ..engine.values import rows_as_dicts
from ..source_refs import record_source
from .anomaly import row_count_anomaly
from .conformity import Conformity
from .metrics import SAMPLE_LIMIT, QualityMetrics, measure, sample_failures
from .relations import open_relations
from .score import quality_score

COMPLETENESS, CONSISTENCY, ACCURACY = FIGURES
ROW_COUNT_ANOMALY = "row_count_anomaly"
DATASET_CHECKS = (SCHEMA_CONFORMITY, COMPLETENESS, CONSISTENCY, ACCURACY, ROW_COUNT_ANOMALY)


def declared_checks(settings: DatasetSettings) -> tuple[str, ...]:
    """The checks that can fail for a dataset with these settings, in `DATASET_CHECKS` order.

    Consistency is 1.0 by construction without a primary key or a reference, and accuracy
    without a value rule: declaring them anyway would show checks that cannot fail, and
    each declared check costs Dagster about 0.1 ms at every code-location load.
    """
    vacuous = set()
    if not settings.primary_key and not settings.referenced_keys:
        vacuous.add(CONSISTENCY)
    if not any(rules.has_value_rule for rules in settings.columns.values()):
        vacuous.add(ACCURACY)
    return tuple(name for name in DATASET_CHECKS if name not in vacuous)


SCANNED_CHECKS = frozenset({COMPLETENESS, CONSISTENCY, ACCURACY, ROW_COUNT_ANOMALY})
SCANNABLE_FORMATS = frozenset({"parquet", "csv", "json", "duckdb_table"})
# Why the other kinds the catalog knows are not scanned here.
_STREAM = ("a message stream is read by consuming it from the position discovery keeps; "
           "a check would have to consume it again")
UNSCANNABLE = {
    "xlsx": "discovery reads workbook sheets with openpyxl; DuckDB would need its excel extension, not installed",
    "nats_stream": _STREAM,
    "redis_stream": _STREAM,
    "postgres_table": "DuckDB reads PostgreSQL through its postgres extension, not installed here",
    "api_json": "an API is read page by page by discovery; no snapshot of its records is kept to scan",
}


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict; `metadata` holds plain values (numbers, lists, dicts)."""

    name: str
    passed: bool
    description: str
    value: float | None = None
    threshold: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetAssessment:
    key: str
    checks: dict[str, CheckOutcome]
    metrics: QualityMetrics | None = None  # None when the scan did not run
    last_updated: float | None = None  # the data's modification time, epoch seconds
    seconds: float = 0.0
    scannable: bool = True  # False: a kind DuckDB cannot read here (the checks say which)

    @property
    def row_count(self) -> int | None:
        return None if self.metrics is None else self.metrics.row_count

    @property
    def quality_score(self) -> float | None:
        return None if self.metrics is None else quality_score(self.metrics)


class Unreadable(Exception):
    """The dataset cannot be read now; the message is the checks' one-line description."""


class Unscannable(Unreadable):
    """The dataset is of a kind these checks cannot read at all (not a sign of trouble)."""


def assess_dataset(
    connection: duckdb.DuckDBPyConnection,
    record: DatasetRecord,
    settings: DatasetSettings,
    *,
    references: Mapping[str, SourceRef] | None = None,
    history: Sequence[int] = (),
    checks: Collection[str] = DATASET_CHECKS,
) -> DatasetAssessment:
    """Evaluate `checks` of `record` in `connection` (which may read files and attach databases).

    `references` holds the `SourceRef` of every key `settings` references; `history` the
    row counts of earlier evaluations, newest first or in any order.
    """
    started = time.perf_counter()
    try:
        last_updated = modification_time(record)
        with open_relations(connection, [record_source(record), *(references or {}).values()]) as tables:
            outcomes, metrics = _evaluate(connection, record, settings, tables, history, checks)
    except (Unreadable, WarehouseLocked, duckdb.Error, OSError, ValueError) as e:
        problem = str(e) if isinstance(e, Unreadable) else f"cannot check {record.key_string}: {first_line(e)}"
        outcomes = {name: CheckOutcome(name, False, one_line(problem)) for name in checks}
        return DatasetAssessment(record.key_string, outcomes, seconds=time.perf_counter() - started,
                                 scannable=not isinstance(e, Unscannable))
    return DatasetAssessment(record.key_string, outcomes, metrics, last_updated, time.perf_counter() - started)


def modification_time(record: DatasetRecord) -> float:
    """The newest modification time among the dataset's files (a database: its file and WAL)."""
    if record.format not in SCANNABLE_FORMATS or "://" in record.location:
        scheme = record.location.split("://", 1)[0] if "://" in record.location else None
        reason = UNSCANNABLE.get(record.format) or UNSCANNABLE.get(scheme) or (
            "only local parquet, CSV and JSON files and DuckDB tables are scanned"
        )
        raise Unscannable(f"{record.key_string} cannot be scanned ({record.format} at {record.location}): {reason}")
    if record.format == "duckdb_table":
        paths = [p for p in (record.location, record.location + ".wal") if os.path.exists(p)]
    else:
        paths = glob.glob(record.location, recursive=True)
    if not paths:
        raise Unreadable(f"{record.key_string} vanished: nothing at {record.location}")
    return max(os.stat(p).st_mtime for p in paths)


def _evaluate(
    connection: duckdb.DuckDBPyConnection,
    record: DatasetRecord,
    settings: DatasetSettings,
    tables: Mapping[str, exp.Expression],
    history: Sequence[int],
    checks: Collection[str],
) -> tuple[dict[str, CheckOutcome], QualityMetrics | None]:
    table = tables[record.key_string]
    current = current_columns(connection, table)
    outcomes: dict[str, CheckOutcome] = {}
    metrics = None
    if SCANNED_CHECKS.intersection(checks):
        schema, missing = _declared_schema(current, settings)
        if missing:
            problem = (
                f"not measured: datacrew.yaml datasets.{record.key_string} names column(s) "
                f"{', '.join(missing)} that {record.key_string} does not have"
            )
            outcomes.update({n: CheckOutcome(n, False, problem) for n in SCANNED_CHECKS.intersection(checks)})
        else:
            references = {k: v for k, v in tables.items() if k != record.key_string}
            metrics = measure(connection, schema, table, reference_tables=references, required=settings.required_columns)
            outcomes.update(_figure_outcomes(connection, schema, table, references, settings, metrics, checks))
            if ROW_COUNT_ANOMALY in checks:
                outcomes[ROW_COUNT_ANOMALY] = _anomaly(metrics.row_count, history, settings)
    if SCHEMA_CONFORMITY in checks:
        outcomes[SCHEMA_CONFORMITY] = _conformity(connection, record, current, table, metrics)
    return {name: outcomes[name] for name in DATASET_CHECKS if name in outcomes}, metrics


def current_columns(connection: duckdb.DuckDBPyConnection, table: exp.Expression) -> list[tuple[str, str]]:
    """(name, DuckDB type) of what `table` yields now; reads metadata only (LIMIT 0)."""
    relation = connection.sql(exp.select("*").from_(table.copy()).limit(0).sql(dialect=DIALECT))
    return [(n, str(t)) for n, t in zip(relation.columns, relation.types)]


def _declared_schema(current: list[tuple[str, str]], settings: DatasetSettings) -> tuple[TargetSchema, list[str]]:
    """The data's columns with the declared rules and key; and the declared names it lacks."""
    present = {name for name, _ in current}
    named = [*settings.primary_key, *(settings.required_columns or ()), *settings.columns]
    missing = sorted({n for n in named if n not in present})
    columns = [
        (settings.columns[name].target_column(name, type_) if name in settings.columns
         else TargetColumn(name=name, type=type_)).model_copy(update={"primary_key": name in settings.primary_key})
        for name, type_ in current
    ]
    return TargetSchema(columns=columns), missing


def _figure_outcomes(
    connection: duckdb.DuckDBPyConnection,
    schema: TargetSchema,
    table: exp.Expression,
    references: Mapping[str, exp.Expression],
    settings: DatasetSettings,
    metrics: QualityMetrics,
    checks: Collection[str],
) -> dict[str, CheckOutcome]:
    figures = {
        COMPLETENESS: (metrics.completeness, {"null_cells": metrics.null_cells, "cells": metrics.cell_count}),
        CONSISTENCY: (
            metrics.consistency,
            {
                "key_uniqueness": round(metrics.key_uniqueness, 6),
                "duplicate_or_missing_key_rows": metrics.duplicate_key_rows,
                "referential_integrity": round(metrics.referential_integrity, 6),
                "orphan_rows": metrics.orphan_rows,
                "orphans_by_column": metrics.orphans,
            },
        ),
        ACCURACY: (
            metrics.accuracy,
            {"failing_rows": metrics.inaccurate_rows, "violations_by_column": metrics.constraint_violations},
        ),
    }
    selected = [name for name in FIGURES if name in checks]
    failing = [name for name in selected if figures[name][0] < settings.thresholds[name]]
    samples = (
        sample_failures(connection, schema, table, reference_tables=references,
                        required=settings.required_columns, checks=failing, limit=SAMPLE_LIMIT)
        if failing else {}
    )
    outcomes = {}
    for name in selected:
        value, counts = figures[name]
        threshold = settings.thresholds[name]
        outcomes[name] = CheckOutcome(
            name,
            value >= threshold,
            f"{name} {value:.4f} against threshold {threshold:g}",
            value=round(value, 6),
            threshold=threshold,
            metadata={"row_count": metrics.row_count, **counts},
            samples=samples.get(name, []),
        )
    return outcomes


def _anomaly(rows: int, history: Sequence[int], settings: DatasetSettings) -> CheckOutcome:
    anomaly = settings.row_count_anomaly
    verdict = row_count_anomaly(rows, history, min_history=anomaly.min_history, max_z=anomaly.max_z)
    metadata: dict[str, Any] = {"row_count": rows, "history": verdict.history, "min_history": anomaly.min_history}
    if verdict.z is not None:
        metadata.update(median=float(verdict.median), mad=float(verdict.mad))
    return CheckOutcome(
        ROW_COUNT_ANOMALY,
        not verdict.anomalous,
        verdict.describe(),
        value=round(verdict.z, 6) if verdict.z is not None else 0.0,
        threshold=verdict.max_z,
        metadata=metadata,
    )


def _conformity(
    connection: duckdb.DuckDBPyConnection,
    record: DatasetRecord,
    current: list[tuple[str, str]],
    table: exp.Expression,
    metrics: QualityMetrics | None,
) -> CheckOutcome:
    """The columns now against the catalog's record: names compare case-insensitively, as
    DuckDB resolves them; types exactly, both being DuckDB's spelling."""
    found = {name.lower(): (name, type_) for name, type_ in current}
    recorded = {c.name.lower() for c in record.columns}
    violations = []
    for column in record.columns:
        now = found.get(column.name.lower())
        if now is None:
            violations.append(("missing_column", column.name, f"catalogued as {column.type}, now missing"))
        elif now[1] != column.type:
            violations.append(("type_mismatch", column.name, f"is {now[1]}, catalogued {column.type}"))
    violations += [("extra_column", name, f"new column of type {type_}") for name, type_ in current
                   if name.lower() not in recorded]
    conformity = Conformity(
        declared_columns=len(record.columns),
        violations=[{"where": record.location, "kind": k, "column": c, "detail": d} for k, c, d in violations],
        sample_rows=[] if not violations else _first_rows(connection, table),
    )
    metadata: dict[str, Any] = {
        "missing_columns": conformity.count("missing_column"),
        "extra_columns": conformity.count("extra_column"),
        "type_mismatches": conformity.count("type_mismatch"),
    }
    if metrics is not None:
        metadata["row_count"] = metrics.row_count
    if violations:
        metadata["violations"] = conformity.violations
    shown = "; ".join(f"{c}: {d}" for _, c, d in violations[:3])
    description = (
        "columns and types match the catalog" if conformity.ok
        else f"schema changed since discovery ({len(violations)} difference(s)): {shown}"
    )
    return CheckOutcome(SCHEMA_CONFORMITY, conformity.ok, description, value=conformity.value, threshold=1.0,
                        metadata=metadata, samples=conformity.sample_rows)


def _first_rows(connection: duckdb.DuckDBPyConnection, table: exp.Expression) -> list[dict]:
    cursor = connection.execute(exp.select("*").from_(table.copy()).limit(SAMPLE_LIMIT).sql(dialect=DIALECT))
    return rows_as_dicts([d[0] for d in cursor.description], cursor.fetchall())
