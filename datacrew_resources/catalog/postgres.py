"""PostgreSQL warehouse connector: every table and view of a `postgresql://host:port/db` database.

Options: `schemas` (default every schema but PostgreSQL's own: `pg_*` and
`information_schema`) and `row_counts`: `statistics` (default) or `exact`.
Everything is read in one read-only REPEATABLE READ transaction (one snapshot);
the uri's password, if any, never appears in errors or locations.

What a record holds:
- tables and views, column types and nullability, declared primary keys:
  `information_schema` (the queries `warehouse.py` runs on DuckDB); partitions
  are left out (their parent is the dataset). Column types are mapped to
  DuckDB names (`TYPES`; arrays as `TYPE[]`, numeric(p,s) as DECIMAL(p,s) up to
  38 digits, else DOUBLE, anything else VARCHAR, as DuckDB's postgres reader does);
- foreign keys: each referencing column's `references` names its counterpart
  as `source/dataset.column` (the quality checks' shape; each column of a
  composite key names its own counterpart). They come from `pg_constraint`:
  `information_schema` pairs the columns through constraint names, which
  PostgreSQL lets two tables of a schema share;
- row count and profile (`profile.py`): with `row_counts: statistics`, a
  table ANALYZE (or VACUUM) has seen is counted by its `pg_class.reltuples`
  estimate and profiled from `pg_stats`, the planner's statistics (no row is
  read): null_frac, n_distinct (a count, or minus a share of the rows), and
  min/max from the histogram bounds and most common values; views, tables
  never analysed, and every dataset with `row_counts: exact` by one
  `SELECT count(*), count(col), min(col), max(col)...` pass (no distinct
  counts: PostgreSQL has no cheap estimate of them);
- size: `pg_total_relation_size` (tables; views 0);
- last_updated: PostgreSQL keeps no modification time (`pg_stat_user_tables`
  has only cumulative counts of rows inserted, updated and deleted, and
  commit timestamps are off by default). Those counts are the record's
  `change_marker`: a rescan finding the same marker keeps the previous
  last_updated; a first scan and a changed marker date it to the scan itself.
  Statistics are reset on a crash or `pg_stat_reset()`, which then reads as a
  change. A view has no counts: it is as fresh as the newest table it reads
  (`information_schema.view_table_usage`) when it reads only scanned tables,
  else dated to the scan.

Dataset name = table name (snake_cased); tables outside `public` are named
`schema_table`, like DuckDB tables outside `main` (`warehouse.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .models import ColumnInfo, ColumnProfile, DatasetProfile, DatasetRecord
from .names import check_unique_names, dataset_name
from .profile import column_profile, ordered_type
from .quality import completeness
from .stream_source import public_uri, read_options, source_error, stream_location

FORMAT = "postgres_table"
TIMEOUT_SECONDS = 5
DEFAULT_SCHEMA = "public"

TYPES = {
    "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "oid": "UINTEGER",
    "float4": "FLOAT", "float8": "DOUBLE", "bool": "BOOLEAN",
    "text": "VARCHAR", "varchar": "VARCHAR", "bpchar": "VARCHAR", "name": "VARCHAR",
    "bytea": "BLOB", "uuid": "UUID", "json": "JSON", "jsonb": "JSON",
    "date": "DATE", "time": "TIME", "timetz": "TIME WITH TIME ZONE",
    "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP WITH TIME ZONE", "interval": "INTERVAL",
}
MAX_DECIMAL_DIGITS = 38

_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%%'
ORDER BY nspname
"""
_TABLES = """
SELECT t.table_schema, t.table_name, t.table_type, c.reltuples, obj_description(c.oid, 'pg_class'),
       s.n_tup_ins + s.n_tup_upd + s.n_tup_del, pg_total_relation_size(c.oid)
FROM information_schema.tables AS t
JOIN pg_namespace AS n ON n.nspname = t.table_schema
JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = t.table_name
LEFT JOIN pg_stat_user_tables AS s ON s.relid = c.oid
WHERE t.table_catalog = current_database() AND t.table_schema = ANY(%(schemas)s)
  AND t.table_type IN ('BASE TABLE', 'VIEW') AND NOT c.relispartition
ORDER BY t.table_schema, t.table_name
"""
_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.udt_name, c.numeric_precision, c.numeric_scale,
       c.is_nullable, col_description(format('%%I.%%I', c.table_schema, c.table_name)::regclass, c.ordinal_position)
FROM information_schema.columns AS c
WHERE c.table_catalog = current_database() AND c.table_schema = ANY(%(schemas)s)
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""
_PRIMARY_KEYS = """
SELECT tc.table_schema, tc.table_name, k.column_name
FROM information_schema.table_constraints AS tc
JOIN information_schema.key_column_usage AS k
  ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
 AND k.table_schema = tc.table_schema AND k.table_name = tc.table_name
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = ANY(%(schemas)s)
ORDER BY tc.table_schema, tc.table_name, k.ordinal_position
"""
_FOREIGN_KEYS = """
SELECT n.nspname, c.relname, a.attname, fn.nspname, fc.relname, fa.attname
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_class AS fc ON fc.oid = con.confrelid
JOIN pg_namespace AS fn ON fn.oid = fc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(attnum, fattnum)
JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
JOIN pg_attribute AS fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum
WHERE con.contype = 'f' AND n.nspname = ANY(%(schemas)s)
"""
_VIEW_TABLES = """
SELECT view_schema, view_name, table_schema, table_name FROM information_schema.view_table_usage
WHERE view_schema = ANY(%(schemas)s)
"""
# Inherited statistics (over a parent and its children) first: they describe what the parent reads.
# anyarray columns reach Python as text arrays; `_typed` reads their elements by the column's type.
_STATISTICS = """
SELECT DISTINCT ON (schemaname, tablename, attname) schemaname, tablename, attname, null_frac, n_distinct,
       most_common_vals::text::text[], histogram_bounds::text::text[]
FROM pg_stats WHERE schemaname = ANY(%(schemas)s)
ORDER BY schemaname, tablename, attname, inherited DESC
"""
_INTEGERS = frozenset({"SMALLINT", "INTEGER", "BIGINT", "UINTEGER"})
_NUMBERS = frozenset({"FLOAT", "DOUBLE"})


@dataclass(frozen=True)
class _ColumnStatistics:
    """A row of `_STATISTICS`."""

    null_frac: float
    n_distinct: float
    common: list[str] | None
    bounds: list[str] | None


@dataclass(frozen=True)
class _Relation:
    """A row of `_TABLES`."""

    schema: str
    table: str
    kind: str
    reltuples: float
    comment: str | None
    changes: int | None
    size: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def is_table(self) -> bool:
        return self.kind == "BASE TABLE"

    @property
    def marker(self) -> str | None:
        return str(self.changes) if self.changes is not None else None


class PostgresOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schemas: list[str] | None = Field(default=None, min_length=1, description="schemas to read; default all")
    row_counts: Literal["statistics", "exact"] = Field(
        default="statistics",
        description="statistics: reltuples of analysed tables, count(*) of the rest; exact: count(*) of all",
    )


def scan_postgres(source: SourceConfig, uri: str, previous: Mapping[str, DatasetRecord]) -> list[DatasetRecord]:
    """Every table and view of the selected schemas, sorted by schema and name; `previous`
    (this source's records by dataset name) carries last_updated over unchanged tables."""
    options = read_options(source, PostgresOptions)
    try:
        con = psycopg.connect(uri, connect_timeout=TIMEOUT_SECONDS)
    except psycopg.Error as e:  # refused, unknown database or role, bad password, malformed uri
        raise source_error(source, _masked(uri), f"cannot connect to PostgreSQL ({first_line(e)})") from None
    with con:
        # One read-only transaction: every query sees the same snapshot, and nothing can be written.
        con.read_only = True
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            return _Database(con, source, uri, options).records(previous)
        except psycopg.Error as e:
            raise source_error(source, _masked(uri), f"cannot read the catalog ({first_line(e)})") from None


def _masked(uri: str) -> str:
    """`public_uri` also masking a `password=` query parameter (libpq accepts one there)."""
    parts = urlsplit(public_uri(uri))
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return parts._replace(query=query).geturl()


def duckdb_type(udt_name: str, precision: int | None, scale: int | None) -> str:
    """The DuckDB name of a PostgreSQL column type (`udt_name` as information_schema gives it)."""
    if udt_name.startswith("_"):  # arrays: `_int4` holds int4; the element's modifiers are not listed
        return duckdb_type(udt_name[1:], None, None) + "[]"
    if udt_name == "numeric":
        return f"DECIMAL({precision},{scale})" if precision and precision <= MAX_DECIMAL_DIGITS else "DOUBLE"
    return TYPES.get(udt_name, "VARCHAR")


class _Database:
    """One connection's catalog, read once, then each dataset counted."""

    def __init__(self, con: psycopg.Connection, source: SourceConfig, uri: str, options: PostgresOptions):
        self.con, self.source, self.uri, self.options = con, source, uri, options
        self.location = stream_location(uri, urlsplit(uri).path.strip("/"))
        self.scanned_at = datetime.now(UTC)

    def records(self, previous: Mapping[str, DatasetRecord]) -> list[DatasetRecord]:
        params = {"schemas": self._schemas()}
        relations = [_Relation(*row) for row in self._fetch(_TABLES, params)]
        names = {r.key: self._name(*r.key) for r in relations}
        check_unique_names(
            self.source.name, [(name, f"{s}.{t}") for (s, t), name in names.items()], file=_masked(self.uri)
        )
        columns: dict[tuple[str, str], list[ColumnInfo]] = {}
        references = self._references(params, names)
        for schema, table, column, udt, precision, scale, nullable, comment in self._fetch(_COLUMNS, params):
            columns.setdefault((schema, table), []).append(
                ColumnInfo(
                    name=column,
                    type=duckdb_type(udt, precision, scale),
                    nullable=nullable == "YES",
                    description=comment or "",
                    references=references.get((schema, table, column)),
                )
            )
        keys: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in self._fetch(_PRIMARY_KEYS, params):
            keys.setdefault((schema, table), []).append(column)
        statistics: dict[tuple[str, str], dict[str, _ColumnStatistics]] = {}
        for schema, table, column, *figures in self._fetch(_STATISTICS, params):
            statistics.setdefault((schema, table), {})[column] = _ColumnStatistics(*figures)
        updated = self._last_updated(params, relations, names, previous)
        return [
            self._record(
                names[r.key], r, columns.get(r.key, []), keys.get(r.key, []), statistics.get(r.key, {}),
                updated[r.key],
            )
            for r in relations
        ]

    def _last_updated(
        self, params: dict[str, Any], relations: list[_Relation], names: Mapping[tuple[str, str], str],
        previous: Mapping[str, DatasetRecord],
    ) -> dict[tuple[str, str], datetime]:
        """A table's previous last_updated while its change marker holds, else the scan's time; a
        view's is the latest of the tables it reads, when it reads only scanned tables."""
        tables = {}
        for relation in relations:
            if relation.is_table:
                before = previous.get(names[relation.key])
                unchanged = (
                    before is not None and relation.marker is not None and before.change_marker == relation.marker
                    and before.location == self.location and before.table == relation.qualified
                )
                tables[relation.key] = before.last_updated if unchanged else self.scanned_at
        reads: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for view_schema, view, schema, table in self._fetch(_VIEW_TABLES, params):
            reads.setdefault((view_schema, view), []).append((schema, table))
        views = {}
        for relation in relations:
            if not relation.is_table:
                read = reads.get(relation.key, [])
                known = read and all(key in tables for key in read)
                views[relation.key] = max(tables[key] for key in read) if known else self.scanned_at
        return tables | views

    def _schemas(self) -> list[str]:
        existing = [row[0] for row in self._fetch(_SCHEMAS, {})]
        if self.options.schemas is None:
            return existing
        missing = [s for s in self.options.schemas if s not in existing]
        if missing:
            problem = f"options.schemas: no schema {missing[0]!r} in the database"
            raise source_error(self.source, _masked(self.uri), problem)
        return self.options.schemas

    def _name(self, schema: str, table: str) -> str:
        raw = table if schema == DEFAULT_SCHEMA else f"{schema}_{table}"
        return dataset_name(raw, source=self.source.name, file=_masked(self.uri))

    def _references(
        self, params: dict[str, Any], names: Mapping[tuple[str, str], str]
    ) -> dict[tuple[str, str, str], str]:
        """{(schema, table, column): 'source/dataset.column'} of every foreign key column; a table
        outside the scanned schemas is named as it would be if scanned."""
        found = {}
        for schema, table, column, to_schema, to_table, to_column in self._fetch(_FOREIGN_KEYS, params):
            target = names.get((to_schema, to_table)) or self._name(to_schema, to_table)
            found[(schema, table, column)] = f"{self.source.name}/{target}.{to_column}"
        return found

    def _record(
        self, name: str, relation: _Relation, columns: list[ColumnInfo], primary_key: list[str],
        statistics: Mapping[str, _ColumnStatistics], last_updated: datetime,
    ) -> DatasetRecord:
        if relation.is_table and self.options.row_counts == "statistics" and relation.reltuples >= 0:
            rows = round(relation.reltuples)
            profile = _from_statistics(rows, columns, statistics)
        else:
            rows, profile = self._count(*relation.key, columns)
        measured = [rows - c.null_count for c in profile.columns if c.null_count is not None]
        score = completeness(rows, measured)
        return DatasetRecord(
            source=self.source.name,
            source_type=SourceType.data_warehouse,
            dataset_name=name,
            description=relation.comment
            or f"PostgreSQL {'table' if relation.is_table else 'view'} {relation.qualified}",
            format=FORMAT,
            location=self.location,
            table=relation.qualified,
            primary_key=primary_key,
            columns=columns,
            record_count=rows,
            size_bytes=relation.size if relation.is_table else 0,
            last_updated=last_updated,
            owner=self.source.owner,
            quality_score=score,
            profile=profile,
            change_marker=relation.marker,
        )

    def _count(self, schema: str, table: str, columns: list[ColumnInfo]) -> tuple[int, DatasetProfile]:
        """Rows, and each column's non-null count and extremes, in one pass."""
        selects = [sql.SQL("count(*)")]
        for column in columns:
            name = sql.Identifier(column.name)
            selects.append(sql.SQL("count({})").format(name))
            if ordered_type(column.type):
                selects += [sql.SQL("min({})").format(name), sql.SQL("max({})").format(name)]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(selects), sql.Identifier(schema, table))
        try:
            row = iter(self.con.execute(query).fetchone())
        except psycopg.Error as e:
            raise source_error(
                self.source, _masked(self.uri), f"cannot count rows of {schema}.{table} ({first_line(e)})"
            ) from None
        rows = next(row)
        profiles = []
        for column in columns:
            non_null = next(row)
            low, high = (next(row), next(row)) if ordered_type(column.type) else (None, None)
            profiles.append(column_profile(column.name, rows, rows - non_null, low=low, high=high))
        return rows, DatasetProfile(basis="scan", rows=rows, columns=profiles)

    def _fetch(self, query: str, params: dict[str, Any]) -> list[tuple]:
        return self.con.execute(query, params).fetchall()


def _from_statistics(
    rows: int, columns: list[ColumnInfo], statistics: Mapping[str, _ColumnStatistics]
) -> DatasetProfile:
    """The profile ANALYZE's figures give; a column without statistics has no figures."""
    profiles = []
    for column in columns:
        found = statistics.get(column.name)
        if found is None:
            profiles.append(ColumnProfile(name=column.name))
            continue
        # n_distinct: a count when positive, minus the share of rows when negative, 0 when unknown.
        distinct = round(found.n_distinct if found.n_distinct > 0 else -found.n_distinct * rows)
        values = [v for v in map(partial(_typed, column.type), (found.bounds or []) + (found.common or []))
                  if v is not None]
        ordered = ordered_type(column.type) and values
        profiles.append(
            column_profile(
                column.name, rows, round(rows * found.null_frac),
                distinct=distinct if found.n_distinct else None, basis="statistics",
                low=min(values) if ordered else None, high=max(values) if ordered else None,
            )
        )
    return DatasetProfile(basis="statistics", rows=rows, columns=profiles)


def _typed(type_: str, text: str) -> Any:
    """An element of a statistics array, as the column's values compare (text for other types)."""
    if type_ in _INTEGERS:
        return int(text)
    if type_ in _NUMBERS or type_.startswith("DECIMAL"):
        number = float(text)
        return number if math.isfinite(number) else None  # NaN, Infinity
    if type_ == "BOOLEAN":
        return text == "t"
    return text
