"""Warehouse connector: every table and view of a DuckDB database file.

The database is opened READ_ONLY. Tables, views, column types, declared
nullability and primary keys come from `information_schema` (the portable
catalog, so a PostgreSQL connector can share the queries); estimated sizes and
comments from `duckdb_tables()`/`duckdb_views()`/`duckdb_columns()`.

Row counts are exact: one aggregate query per dataset counts the rows and
profiles every column in the same pass (non-null count; min and max of
flat, ordered types; distinct values, counted exactly for tables estimated at
up to `profile.EXACT_DISTINCT_ROWS` rows, else by `approx_count_distinct`),
which feeds the quality score (`profile.py`). `estimated_size` is not exact
(it lags deletes) and views have none (their distincts are estimated). Tables
estimated above `PROFILE_ROW_LIMIT` rows get `count(*)` alone (a cheap scan in
DuckDB), no profile and no quality score. Dataset name = table name
(snake_cased); tables outside the `main` schema are named `schema_table`.
Names that still clash (`main.sales_orders` and `sales.orders`) are refused
before any row is counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .errors import DiscoveryError
from .models import ColumnInfo, DatasetProfile, DatasetRecord
from .names import check_unique_names, dataset_name
from .profile import EXACT_DISTINCT_ROWS, column_profile, ordered_type
from .quality import completeness

PROFILE_ROW_LIMIT = 10_000_000

_TABLES = """
SELECT t.table_schema, t.table_name, t.table_type
FROM information_schema.tables AS t
WHERE t.table_catalog = current_database()
  AND t.table_schema NOT IN ('information_schema', 'pg_catalog')
ORDER BY t.table_schema, t.table_name
"""
_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable
FROM information_schema.columns AS c
WHERE c.table_catalog = current_database()
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""
_PRIMARY_KEYS = """
SELECT tc.table_schema, tc.table_name, k.column_name
FROM information_schema.table_constraints AS tc
JOIN information_schema.key_column_usage AS k
  USING (constraint_catalog, constraint_schema, constraint_name)
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_catalog = current_database()
ORDER BY tc.table_schema, tc.table_name, k.ordinal_position
"""
_DETAILS = """
SELECT schema_name, table_name, estimated_size, comment FROM duckdb_tables()
WHERE database_name = current_database()
UNION ALL
SELECT schema_name, view_name, NULL, comment FROM duckdb_views()
WHERE database_name = current_database() AND NOT internal
"""
_COLUMN_COMMENTS = """
SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()
WHERE database_name = current_database() AND comment IS NOT NULL
"""


def scan_warehouse(source: SourceConfig, path: Path) -> list[DatasetRecord]:
    """Every table and view of the DuckDB file at `path`, sorted by schema and name."""
    location = str(path.resolve())
    try:
        con = duckdb.connect(location, read_only=True)
    except duckdb.Error as e:
        raise _error(source, location, "cannot open DuckDB database", e) from None
    with con:
        try:
            return _records(con, source, location, path)
        except duckdb.Error as e:
            raise _error(source, location, "cannot read catalog", e) from None


def _error(source: SourceConfig, file: str, what: str, cause: Exception) -> DiscoveryError:
    return DiscoveryError(f"source {source.name!r}: {what} ({first_line(cause)})", file=file)


def _records(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, location: str, path: Path
) -> list[DatasetRecord]:
    columns: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    for schema, table, name, type_, is_nullable in con.execute(_COLUMNS).fetchall():
        columns.setdefault((schema, table), []).append((name, type_, is_nullable == "YES"))
    keys: dict[tuple[str, str], list[str]] = {}
    for schema, table, name in con.execute(_PRIMARY_KEYS).fetchall():
        keys.setdefault((schema, table), []).append(name)
    details = {(s, t): (size, comment) for s, t, size, comment in con.execute(_DETAILS).fetchall()}
    column_comments = {(s, t, c): text for s, t, c, text in con.execute(_COLUMN_COMMENTS).fetchall()}
    stat = path.stat()
    last_updated = datetime.fromtimestamp(stat.st_mtime, tz=UTC)

    tables = [
        (schema, table, _dataset_name(source, location, schema, table))
        for schema, table, _type in con.execute(_TABLES).fetchall()
    ]
    # Checked before any row is counted: a clash would otherwise only fail in the store.
    check_unique_names(source.name, [(name, f"{schema}.{table}") for schema, table, name in tables], file=location)

    records = []
    for schema, table, name in tables:
        estimated, comment = details.get((schema, table), (None, None))
        table_columns = columns.get((schema, table), [])
        if estimated is None or estimated <= PROFILE_ROW_LIMIT:
            exact = estimated is not None and estimated <= EXACT_DISTINCT_ROWS
            rows, profile = _profile(con, source, location, schema, table, table_columns, exact=exact)
        else:
            rows, profile = _count(con, source, location, schema, table), None
        records.append(
            DatasetRecord(
                source=source.name,
                source_type=SourceType.data_warehouse,
                dataset_name=name,
                description=comment or "",
                format="duckdb_table",
                location=location,
                table=f"{schema}.{table}",
                primary_key=keys.get((schema, table), []),
                columns=[
                    ColumnInfo(
                        name=name,
                        type=type_,
                        nullable=nullable,
                        description=column_comments.get((schema, table, name)) or "",
                    )
                    for name, type_, nullable in table_columns
                ],
                record_count=rows,
                size_bytes=0,  # DuckDB does not report a per-table size cheaply
                file_count=1,
                last_updated=last_updated,
                owner=source.owner,
                quality_score=(
                    completeness(rows, [rows - c.null_count for c in profile.columns]) if profile else None
                ),
                profile=profile,
            )
        )
    return records


def _dataset_name(source: SourceConfig, location: str, schema: str, table: str) -> str:
    return dataset_name(table if schema == "main" else f"{schema}_{table}", source=source.name, file=location)


def _count(con: duckdb.DuckDBPyConnection, source: SourceConfig, location: str, schema: str, table: str) -> int:
    return _fetch(con, source, location, schema, table, f"SELECT count(*) FROM {_qualified(schema, table)}")[0]


def _profile(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    location: str,
    schema: str,
    table: str,
    table_columns: list[tuple[str, str, bool]],
    *,
    exact: bool,
) -> tuple[int, DatasetProfile]:
    """Rows and every column's figures, in one pass over the table."""
    distinct = "count(DISTINCT {})" if exact else "approx_count_distinct({})"
    selects = ["count(*)"]
    for name, type_, _ in table_columns:
        column = _quote(name)
        selects.append(f"count({column})")
        selects.append(distinct.format(column))
        if ordered_type(type_):
            selects += [f"min({column})", f"max({column})"]
    select = f"SELECT {', '.join(selects)} FROM {_qualified(schema, table)}"
    row = iter(_fetch(con, source, location, schema, table, select))
    rows = next(row)
    profiles = []
    for name, type_, _ in table_columns:
        non_null, count = next(row), next(row)
        low, high = (next(row), next(row)) if ordered_type(type_) else (None, None)
        profiles.append(column_profile(name, rows, rows - non_null, distinct=count, basis="scan", low=low, high=high))
    return rows, DatasetProfile(basis="scan", rows=rows, columns=profiles)


def _fetch(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, location: str, schema: str, table: str, sql: str
) -> tuple:
    try:
        return con.execute(sql).fetchall()[0]
    except duckdb.Error as e:
        raise _error(source, location, f"cannot count rows of {schema}.{table}", e) from None


def _qualified(schema: str, table: str) -> str:
    return f"{_quote(schema)}.{_quote(table)}"


def _quote(identifier: str) -> str:
    """Quote a catalog identifier (not user text: it comes from information_schema)."""
    return '"' + identifier.replace('"', '""') + '"'
