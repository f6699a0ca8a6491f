"""The gate every piece of SQL text from a spec or an LLM passes before it reaches DuckDB.

Four entry points, all raising `ConfigError` that names the offender:

- `check_expression`: one scalar/aggregate expression (filter, derive, aggregate);
- `check_ordering`: one ORDER BY term, an expression with ASC/DESC/NULLS (dedupe order);
- `check_type`: one DuckDB type name (cast rules, target schema);
- `check_query`: one whole SELECT that may read only the registered relations.

Functions are checked against an allow-list taken once from DuckDB's own catalog
(`duckdb_functions()` of type scalar, aggregate, macro and window) minus a deny-list
of functions with side effects. The sandbox connection is the second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from datacrew_resources.config.errors import ConfigError, first_line

DIALECT = "duckdb"

# Statements are recognised by their first keyword too, because sqlglot cannot parse
# some of them (EXPORT/IMPORT DATABASE) and falls back to a generic Command for others.
STATEMENT_KEYWORDS = frozenset(
    "ALTER ANALYZE ATTACH BEGIN CALL CHECKPOINT COMMENT COMMIT COPY CREATE DEALLOCATE DELETE "
    "DESCRIBE DETACH DROP EXECUTE EXPLAIN EXPORT FORCE GRANT IMPORT INSERT INSTALL LOAD MERGE "
    "PIVOT PRAGMA PREPARE RESET REVOKE ROLLBACK SET SHOW SUMMARIZE TRUNCATE UNPIVOT UPDATE USE "
    "VACUUM".split()
)
# Node types that are statements (or parts that make one write), never allowed anywhere.
STATEMENT_NODES = (
    exp.DDL, exp.DML, exp.Command, exp.Copy, exp.Set, exp.Pragma, exp.Attach, exp.Detach,
    exp.Install, exp.Export, exp.Use, exp.Describe, exp.Show, exp.Summarize, exp.Into,
    exp.Transaction, exp.Commit, exp.Rollback, exp.Create, exp.Drop, exp.Alter, exp.Insert,
    exp.Update, exp.Delete, exp.Merge, exp.TruncateTable, exp.Analyze, exp.Grant, exp.Revoke,
    exp.Kill, exp.Refresh, exp.Cache, exp.Uncache, exp.LoadData,
)
# Functions that read files, touch the system, mutate state or stall the process.
DENIED_FUNCTIONS = frozenset(
    {
        "glob", "getenv", "query", "query_table", "sniff_csv", "pg_sleep", "sleep_ms",
        "write_log", "nextval", "currval", "setval", "setseed", "json_serialize_plan",
        "json_execute_serialized_sql", "parquet_scan", "unnest", "generate_series", "range",
        # They read the sandbox's settings (allowed paths, variables) back to the caller.
        "current_setting", "getvariable",
    }
)
DENIED_PREFIXES = ("read_", "__internal", "parquet_", "duckdb_", "pragma_")
# Keyword forms sqlglot renders as NAME(...) that are not in duckdb_functions().
SPECIAL_FORMS = frozenset({"cast", "try_cast", "extract", "coalesce", "if", "grouping"})
# How a source key reads as a table name; anything else with a path character is a path.
SOURCE_KEY = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$", re.IGNORECASE)
_HEAD = re.compile(r'^"?([A-Za-z_][A-Za-z0-9_]*)"?\s*\(')


@cache
def _catalog() -> tuple[frozenset[str], frozenset[str]]:
    """(allowed function names, table function names), read once from DuckDB itself."""
    with duckdb.connect(":memory:") as con:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name), function_type FROM duckdb_functions()"
        ).fetchall()
    callable_ = {name for name, kind in rows if kind in ("scalar", "aggregate", "macro", "window")}
    tables = {name for name, kind in rows if kind in ("table", "table_macro", "pragma")}
    allowed = {name for name in callable_ if not _denied(name)} - tables
    return frozenset(allowed), frozenset(tables)


def _denied(name: str) -> bool:
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def _tokens(text: str, err) -> list:
    try:
        return sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except TokenError as e:
        raise err(f"cannot be tokenised ({e})") from None


def _parse_one(text: str, err) -> exp.Expression:
    """Parse exactly one statement; reject statement keywords before sqlglot guesses."""
    _split_statements(text, err)
    try:
        parsed = sqlglot.parse(text, read=DIALECT)
    except ParseError as e:
        raise err(f"is not valid DuckDB SQL ({first_line(e)})") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise err(f"exactly one statement expected, found {len(parsed)}")
    return parsed[0]


def _split_statements(text: str, err) -> None:
    """Tokenise (comments are gone then) and require one statement that does not start
    with a statement keyword, in any case (`cOpY`)."""
    statements: list[list] = [[]]
    for token in _tokens(text, err):
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    for tokens in statements:
        keyword = tokens[0].text.upper()
        if keyword in STATEMENT_KEYWORDS:
            raise err(f"{keyword} statement is not allowed")
    if len(statements) != 1:
        raise err(f"exactly one statement expected, found {len(statements)}")


def _function_name(node: exp.Func) -> str | None:
    """The name DuckDB will see for this call, or None for operator/keyword forms."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    match = _HEAD.match(node.sql(dialect=DIALECT))
    return match.group(1).lower() if match else None


def _called(tree: exp.Expression) -> list[str]:
    return [name for node in tree.find_all(exp.Func) if (name := _function_name(node))]


def _check_denied(tree: exp.Expression, err) -> None:
    """Reject file/system functions first, so one inside a subquery is named as the offender."""
    _, tables = _catalog()
    for name in _called(tree):
        if name in tables:
            raise err(f"table function {name} is not allowed")
        if _denied(name):
            raise err(f"function {name} is not allowed")


def _check_known(tree: exp.Expression, err) -> None:
    allowed, _ = _catalog()
    for name in _called(tree):
        if name not in allowed and name not in SPECIAL_FORMS:
            raise err(f"unknown function {name}")


def _check_no_statements(tree: exp.Expression, err) -> None:
    for node in tree.walk():
        if isinstance(node, STATEMENT_NODES):
            raise err(f"{node.key.upper()} is not allowed")


def _error_factory(field: str, text: str):
    def err(problem: str) -> ConfigError:
        return ConfigError(problem, field=field, value=text)

    return err


def check_expression(text: str, *, field: str) -> exp.Expression:
    """Parse one SQL expression: no statements, no subqueries, only allowed functions."""
    err = _error_factory(field, text)
    tree = _parse_one(text, err)
    _check_scalar(tree, err)
    return tree


def check_ordering(text: str, *, field: str) -> exp.Ordered:
    """Parse one ORDER BY term (`expr [ASC|DESC] [NULLS FIRST|LAST]`), its expression
    checked as `check_expression` checks one."""
    err = _error_factory(field, text)
    _split_statements(text, err)
    try:
        tree = sqlglot.parse_one(text, read=DIALECT, into=exp.Ordered)
    except (ParseError, TokenError) as e:
        raise err(f"is not an ORDER BY term ({first_line(e)})") from None
    _check_scalar(tree.this, err)
    return tree


def _check_scalar(tree: exp.Expression, err) -> None:
    _check_no_statements(tree, err)
    _check_denied(tree, err)
    if isinstance(tree, exp.Query) or tree.find(exp.Query, exp.Subquery, exp.Table, exp.Exists):
        raise err("subqueries are not allowed in an expression")
    _check_known(tree, err)
    if isinstance(tree, exp.Alias):
        raise err("an expression must not carry an alias; the rule names the column")
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise err("* is only allowed as count(*)")


def check_type(text: str, *, field: str) -> exp.DataType:
    """Parse one DuckDB type name; the whole text must be the type (the engine then asks
    DuckDB whether it exists)."""
    err = _error_factory(field, text)
    try:
        return sqlglot.parse_one(text, read=DIALECT, into=exp.DataType)
    except (ParseError, TokenError):
        raise err("is not a DuckDB type") from None


def check_query(text: str, *, tables: Collection[str], field: str = "sql") -> exp.Query:
    """Parse one SELECT (or set operation of SELECTs) reading only `tables` and its CTEs."""
    err = _error_factory(field, text)
    tree = _parse_one(text, err)
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        raise err(f"only a SELECT is allowed, not {tree.key.upper()}")
    _check_no_statements(tree, err)
    if any(w.args.get("recursive") for w in tree.find_all(exp.With)):
        raise err("WITH RECURSIVE is not allowed (a recursive query's size cannot be bounded)")
    _check_denied(tree, err)
    _check_known(tree, err)
    check_tables(tree, tables=tables, err=err)
    return tree


def check_tables(tree: exp.Expression, *, tables: Collection[str], err) -> None:
    """Every relation read must be a registered name or a CTE visible where it is read.

    Visibility follows DuckDB's scoping: a CTE is seen by the body of the query that
    defines it and by the CTEs after it (by itself only under RECURSIVE). A CTE name
    defined in one subquery does not license the same name elsewhere, where DuckDB
    would look it up in the catalog or as a file (`"/etc/passwd"`).
    """
    registered = {t.lower() for t in tables}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise err(f"{table.this.sql(dialect=DIALECT)} in FROM is not allowed")
        if table.args.get("db") or table.args.get("catalog"):
            raise err(f"qualified table name {table.sql(dialect=DIALECT)} is not allowed")
        name = table.name.lower()
        if name in registered or name in _visible_ctes(table):
            continue
        if re.search(r"[/\\.~:]", table.name) and not SOURCE_KEY.match(table.name):
            raise err(f"file path {table.name!r} used as a table is not allowed")
        known = sorted(registered | _visible_ctes(table))
        raise err(f"unknown table {table.name!r} (known: {', '.join(known)})")


def _visible_ctes(node: exp.Expression) -> set[str]:
    """Lower-case names of the CTEs in scope at `node`."""
    names: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With):  # `node` is in a CTE body: the CTEs before it
            index = next((k for k, cte in enumerate(parent.expressions) if cte is child), 0)
            upto = index + 1 if parent.args.get("recursive") else index
            names.update(cte.alias_or_name.lower() for cte in parent.expressions[:upto])
        elif isinstance(parent, exp.Query):
            with_ = parent.args.get("with_")
            if isinstance(with_, exp.With) and child is not with_:
                names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        child, parent = parent, parent.parent
    return names
