"""Adversarial corpus: SQL and specs that try to leave the registered sources.

Every case is rejected by the guard with its reason asserted: as a whole query
(`check_query`, what the crew's SQL and a plan go through), as a spec's `sql` rule,
and, for expressions, as filter/derive/aggregate/dedupe rules. Where it means
something, the same text is also run straight in the sandbox connection, as if it had
slipped past the guard, and must fail there too without leaking the secret file or
creating a file outside the allowed directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.engine import Engine, SourceRef, compile_spec
from datacrew_resources.engine.sandbox import open_sandbox
from datacrew_resources.engine.sql_guard import check_expression, check_query

from .helpers import AIRLINES, FLIGHT_COLUMNS, FLIGHT_TYPES, FLIGHTS, make_spec, write_table

TABLES = ["lake/flights", "warehouse/airlines", "previous"]
# Registered sources as the catalog describes them (compiling reads no data).
SOURCES = {
    "lake/flights": SourceRef("lake/flights", "parquet", "/data/flights.parquet", columns=(
        ("id", "INTEGER"), ("carrier", "VARCHAR"), ("origin", "VARCHAR"), ("dep_delay", "DOUBLE"),
        ("distance", "BIGINT"))),
    "warehouse/airlines": SourceRef("warehouse/airlines", "duckdb_table", "/data/w.db", table="main.airlines",
                                    columns=(("carrier", "VARCHAR"), ("name", "VARCHAR"))),
    "files/airlines_csv": SourceRef("files/airlines_csv", "csv", "/data/airlines.csv",
                                    columns=(("carrier", "VARCHAR"), ("name", "VARCHAR"))),
}
SECRET_TEXT = "TOPSECRET"


class Case(NamedTuple):
    sql: str  # {secret}: a file outside the sources; {outside}: a directory nothing may write to
    reason: str
    sandbox: bool  # True: must also fail when run directly in the sandbox connection


def case(id_: str, sql: str, reason: str, sandbox: bool = True):
    return pytest.param(Case(sql, reason, sandbox), id=id_)


QUERIES = [
    # DDL and DML. In the per-run in-memory sandbox some would succeed harmlessly
    # (a table that vanishes with the connection), so only the guard is asserted there.
    case("create-table", "CREATE TABLE x AS SELECT 1", "CREATE statement is not allowed", sandbox=False),
    case("create-view", 'CREATE OR REPLACE VIEW "lake/flights" AS SELECT 1', "CREATE statement is not allowed",
         sandbox=False),
    case("table-macro", "CREATE MACRO m() AS TABLE SELECT * FROM read_text('{secret}')",
         "CREATE statement is not allowed"),
    case("drop", 'DROP VIEW "lake/flights"', "DROP statement is not allowed", sandbox=False),
    case("insert", 'INSERT INTO "lake/flights" SELECT * FROM "lake/flights"', "INSERT statement is not allowed"),
    case("update", 'UPDATE "lake/flights" SET id = 0', "UPDATE statement is not allowed"),
    case("delete", 'DELETE FROM "lake/flights"', "DELETE statement is not allowed"),
    case("alter", 'ALTER VIEW "lake/flights" RENAME TO x', "ALTER statement is not allowed", sandbox=False),
    case("truncate", 'TRUNCATE "lake/flights"', "TRUNCATE statement is not allowed"),
    case("select-into", 'SELECT * INTO x FROM "lake/flights"', "INTO is not allowed"),
    # Several statements.
    case("two-selects", 'SELECT * FROM "lake/flights"; SELECT 2', "exactly one statement expected, found 2",
         sandbox=False),
    case("select-then-read", "SELECT 1; SELECT * FROM read_text('{secret}')", "exactly one statement expected"),
    case("select-then-drop", 'SELECT 1; DROP VIEW "lake/flights"', "DROP statement is not allowed", sandbox=False),
    case("select-then-copy", "SELECT 1;\nCOPY (SELECT 1) TO '{outside}/x.csv'", "COPY statement is not allowed"),
    # File readers on paths outside the sources.
    case("read_csv", "SELECT * FROM read_csv('{secret}')", "table function read_csv is not allowed"),
    case("read_csv_auto", "SELECT * FROM read_csv_auto('{secret}')", "table function read_csv_auto is not allowed"),
    case("read_csv-list", "SELECT * FROM read_csv(['{secret}'])", "table function read_csv is not allowed"),
    case("read_text", "SELECT * FROM read_text('{secret}')", "table function read_text is not allowed"),
    case("read_blob", "SELECT * FROM read_blob('{secret}')", "table function read_blob is not allowed"),
    case("read_parquet", "SELECT * FROM read_parquet('{secret}')", "table function read_parquet is not allowed"),
    case("read_json", "SELECT * FROM read_json('{secret}')", "table function read_json is not allowed"),
    case("read_ndjson_objects", "SELECT * FROM read_ndjson_objects('{secret}')",
         "table function read_ndjson_objects is not allowed"),
    case("sniff_csv", "SELECT * FROM sniff_csv('{secret}')", "table function sniff_csv is not allowed"),
    case("read-in-select-list", "SELECT (SELECT content FROM read_text('{secret}')) AS x",
         "table function read_text is not allowed"),
    case("read-computed-path", "SELECT * FROM read_text('{secret}' || '')", "table function read_text is not allowed"),
    # Paths as tables.
    case("file-as-table", "SELECT * FROM '{secret}'", "file path '{secret}' used as a table is not allowed"),
    case("home-path", "SELECT * FROM '~/.ssh/id_rsa'", "file path '~/.ssh/id_rsa' used as a table is not allowed"),
    case("home-path-quoted", 'SELECT * FROM "~/.bashrc"', "file path '~/.bashrc' used as a table is not allowed"),
    case("dotdot-path", "SELECT * FROM '../../etc/passwd'",
         "file path '../../etc/passwd' used as a table is not allowed"),
    case("dotdot-quoted", 'SELECT * FROM "../../../etc/passwd"',
         "file path '../../../etc/passwd' used as a table is not allowed"),
    case("source-then-dotdot", 'SELECT * FROM "lake/flights/../../secret.csv"',
         "file path 'lake/flights/../../secret.csv' used as a table is not allowed"),
    case("bare-file-name", "SELECT * FROM 'passwd.csv'", "file path 'passwd.csv' used as a table is not allowed"),
    case("url", "SELECT * FROM 'https://example.com/x.parquet'", "used as a table is not allowed"),
    case("s3", "SELECT * FROM 's3://bucket/x.parquet'", "used as a table is not allowed"),
    case("motherduck", 'SELECT * FROM "md:"', "file path 'md:' used as a table is not allowed"),
    # Writing, attaching, extensions, settings.
    case("copy-query-to", "COPY (SELECT * FROM \"lake/flights\") TO '{outside}/x.csv'",
         "COPY statement is not allowed"),
    case("copy-table-to", "COPY \"lake/flights\" TO '{outside}/x.parquet' (FORMAT parquet)",
         "COPY statement is not allowed"),
    case("copy-from", "COPY x FROM '{secret}'", "COPY statement is not allowed"),
    case("attach", "ATTACH '{outside}/x.db' AS x", "ATTACH statement is not allowed"),
    case("attach-comment", "/* just a select */ ATTACH '{outside}/x.db'", "ATTACH statement is not allowed"),
    case("attach-line-comment", "-- SELECT\nattach '{outside}/x.db'", "ATTACH statement is not allowed"),
    case("detach", "DETACH warehouse_0", "DETACH statement is not allowed"),
    case("install", "INSTALL httpfs", "INSTALL statement is not allowed"),
    case("force-install", "FORCE INSTALL httpfs", "FORCE statement is not allowed"),
    case("load", "LOAD httpfs", "LOAD statement is not allowed"),
    case("set", "SET enable_external_access = true", "SET statement is not allowed"),
    case("set-global", "SET GLOBAL lock_configuration = false", "SET statement is not allowed"),
    case("set-allowed", "SET allowed_directories = ['/']", "SET statement is not allowed"),
    case("set-variable", "SET VARIABLE x = 1", "SET statement is not allowed", sandbox=False),
    case("reset", "RESET allowed_directories", "RESET statement is not allowed"),
    case("pragma", "PRAGMA enable_profiling", "PRAGMA statement is not allowed"),
    case("pragma-assign", "PRAGMA threads = 64", "PRAGMA statement is not allowed"),
    case("call", "CALL pragma_version()", "CALL statement is not allowed", sandbox=False),
    case("export", "EXPORT DATABASE '{outside}/dump'", "EXPORT statement is not allowed"),
    case("import", "IMPORT DATABASE '{outside}'", "IMPORT statement is not allowed"),
    case("checkpoint", "CHECKPOINT", "CHECKPOINT statement is not allowed", sandbox=False),
    case("use", "USE warehouse_0", "USE statement is not allowed"),
    case("prepare", "PREPARE p AS SELECT * FROM read_text('{secret}')", "PREPARE statement is not allowed"),
    case("describe", 'DESCRIBE "lake/flights"', "DESCRIBE statement is not allowed", sandbox=False),
    # Table functions and system functions.
    case("range", "SELECT * FROM range(10)", "table function range is not allowed", sandbox=False),
    case("generate_series", "SELECT * FROM generate_series(1, 3)", "table function generate_series is not allowed",
         sandbox=False),
    case("duckdb_settings", "SELECT * FROM duckdb_settings()", "table function duckdb_settings is not allowed",
         sandbox=False),
    case("duckdb_secrets", "SELECT * FROM duckdb_secrets()", "table function duckdb_secrets is not allowed"),
    case("parquet_metadata", "SELECT * FROM parquet_metadata('{secret}')",
         "table function parquet_metadata is not allowed"),
    case("unnest-from", "SELECT * FROM unnest([1, 2])", "table function unnest is not allowed", sandbox=False),
    case("glob-from", "SELECT * FROM glob('{outside}/*')", "table function glob is not allowed"),
    case("glob-scalar", "SELECT glob('/*')", "table function glob is not allowed"),
    case("getenv", "SELECT getenv('HOME')", "function getenv is not allowed"),
    case("query", "SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')",
         "table function query is not allowed"),
    case("query_table", "SELECT * FROM query_table('lake/flights')", "table function query_table is not allowed",
         sandbox=False),
    case("table-macro-builtin", 'SELECT * FROM histogram_values("lake/flights", distance)',
         "table function histogram_values is not allowed", sandbox=False),
    # Stalls the run (the sandbox would run it): the guard alone stops it.
    case("sleep", "SELECT sleep_ms(100000)", "function sleep_ms is not allowed", sandbox=False),
    case("sqlite_master", "SELECT * FROM sqlite_master", "unknown table 'sqlite_master'", sandbox=False),
    case("qualified-attached", "SELECT * FROM warehouse_0.main.airlines",
         "qualified table name warehouse_0.main.airlines is not allowed", sandbox=False),
    case("information_schema", "SELECT * FROM information_schema.tables", "qualified table name", sandbox=False),
    # The same reads hidden in subqueries, CTEs, set operations and joins.
    case("filter-subquery", "SELECT * FROM \"lake/flights\" WHERE carrier IN (SELECT * FROM read_csv('{secret}'))",
         "table function read_csv is not allowed"),
    case("filter-subquery-path", "SELECT * FROM \"lake/flights\" WHERE carrier IN (SELECT content FROM '{secret}')",
         "file path '{secret}' used as a table is not allowed"),
    case("exists-subquery", "SELECT * FROM \"lake/flights\" WHERE EXISTS (SELECT 1 FROM glob('/*'))",
         "table function glob is not allowed"),
    case("cte", "WITH s AS (SELECT * FROM read_text('{secret}')) SELECT * FROM s",
         "table function read_text is not allowed"),
    case("cte-on-previous", "WITH p AS (SELECT * FROM previous), s AS (FROM '{secret}') SELECT * FROM p, s",
         "file path '{secret}' used as a table is not allowed"),
    case("union", "SELECT carrier FROM \"lake/flights\" UNION ALL SELECT content FROM read_text('{secret}')",
         "table function read_text is not allowed"),
    case("union-by-name", "SELECT * FROM \"lake/flights\" UNION ALL BY NAME FROM read_csv('{secret}')",
         "table function read_csv is not allowed"),
    case("lateral-subquery", "SELECT * FROM \"lake/flights\" f, LATERAL (SELECT * FROM read_text('{secret}'))",
         "table function read_text is not allowed"),
    case("lateral-join", "SELECT * FROM \"lake/flights\" f JOIN LATERAL read_text('{secret}') ON true",
         "table function read_text is not allowed"),
    case("positional-join", "SELECT * FROM \"lake/flights\" POSITIONAL JOIN read_blob('{secret}')",
         "table function read_blob is not allowed"),
    case("join-path", "SELECT * FROM \"lake/flights\" JOIN '{secret}' ON true",
         "file path '{secret}' used as a table is not allowed"),
    case("from-first", "FROM read_csv('{secret}')", "table function read_csv is not allowed"),
    case("lambda", "SELECT list_transform(['{secret}'], x -> read_text(x))", "table function read_text is not allowed"),
    case("method-call", "SELECT '{secret}'.read_text()", "table function read_text is not allowed"),
    # A CTE name only counts where DuckDB can see it: elsewhere it is a file.
    case("cte-out-of-scope", 'SELECT * FROM (WITH "{secret}" AS (SELECT 1) SELECT 1) t, "{secret}"',
         "file path '{secret}' used as a table is not allowed"),
    case("cte-self-reference", 'WITH "{secret}" AS (SELECT * FROM "{secret}") SELECT * FROM "{secret}"',
         "file path '{secret}' used as a table is not allowed"),
    # Spelling tricks: case, quoting, comments, schema qualification.
    case("mixed-case", "SELECT * FROM ReAd_CsV('{secret}')", "table function read_csv is not allowed"),
    case("quoted-function", "SELECT * FROM \"ReAd_TeXt\"('{secret}')", "table function read_text is not allowed"),
    case("comment-inside", "SELECT * FROM read_csv /* x */ ('{secret}')", "table function read_csv is not allowed"),
    case("comment-before", "/* harmless */ SELECT * FROM read_text('{secret}') -- done",
         "table function read_text is not allowed"),
    case("mixed-case-statement", "cOpY (SELECT 1) To '{outside}/x.csv'", "COPY statement is not allowed"),
    case("schema-qualified", "SELECT * FROM main.read_text('{secret}')", "table function read_text is not allowed"),
    case("catalog-qualified", "SELECT * FROM system.main.read_text('{secret}')",
         "table function read_text is not allowed"),
]


@pytest.fixture(scope="module")
def sources_on_disk(tmp_path_factory: pytest.TempPathFactory) -> list[SourceRef]:
    """Flights as parquet and airlines in a warehouse file, shared read-only by the module."""
    data = tmp_path_factory.mktemp("adversarial-data")
    with duckdb.connect() as con:
        write_table(con, "flights", ", ".join(f"{c} {t}" for c, t in zip(FLIGHT_COLUMNS, FLIGHT_TYPES)), FLIGHTS)
        con.execute(f"COPY flights TO '{data / 'flights.parquet'}' (FORMAT parquet)")
    with duckdb.connect(str(data / "warehouse.db")) as con:
        write_table(con, "airlines", "carrier VARCHAR, name VARCHAR", AIRLINES)
    return [SourceRef("lake/flights", "parquet", str(data / "flights.parquet")),
            SourceRef("warehouse/airlines", "duckdb_table", str(data / "warehouse.db"), table="main.airlines")]


@pytest.fixture(params=["one-step", "crew-run-session"])
def sandbox(request, sources_on_disk: list[SourceRef], tmp_path: Path):
    """A sandbox over the sources: one step's, or the one a crew run's session keeps
    (after a write, so everything a session ever allows is allowed)."""
    out = tmp_path / "out"
    out.mkdir()
    if request.param == "one-step":
        with open_sandbox(sources_on_disk, allowed_dirs=[out], temp_dir=tmp_path / "tmp", threads=1,
                          memory_limit="256MB") as con:
            yield con
        return
    engine = Engine({ref.key: ref for ref in sources_on_disk}, output_dir=out, temp_dir=tmp_path / "tmp",
                    config=EngineConfig(threads=1, memory_limit="256MB"))
    spec = make_spec([{"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": "inner"}}],
                     [("id", "INTEGER"), ("name", "VARCHAR")], sources=["lake/flights", "warehouse/airlines"])
    with engine.session(spec) as session:
        session.execute(session.compile())
        with session.connection(sources_on_disk) as con:
            yield con


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "private" / "secret.csv"
    path.parent.mkdir()
    path.write_text(f"content\n{SECRET_TEXT}\n")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    return path


def fill(text: str, secret: Path, outside: Path) -> str:
    return text.replace("{secret}", str(secret)).replace("{outside}", str(outside))


@pytest.mark.parametrize("bad", QUERIES)
def test_guard_rejects_the_query_with_its_reason(bad: Case, secret: Path, outside: Path) -> None:
    text = fill(bad.sql, secret, outside)
    with pytest.raises(ConfigError) as caught:
        check_query(text, tables=TABLES, field="sql")
    message = str(caught.value)
    assert fill(bad.reason, secret, outside) in message
    assert message.startswith("sql: ") and "\n" not in message


@pytest.mark.parametrize("bad", QUERIES)
def test_sql_rule_rejects_the_query_naming_the_rule(bad: Case, secret: Path, outside: Path) -> None:
    text = fill(bad.sql, secret, outside)
    spec = make_spec([{"filter": "id > 0"}, {"sql": text}], [("id", "INTEGER")],
                     sources=["lake/flights", "warehouse/airlines"])
    with pytest.raises(ConfigError) as caught:
        compile_spec(spec, SOURCES, file="specs/bad.yaml")
    message = str(caught.value)
    assert message.startswith("specs/bad.yaml: rules[1].sql: ")
    assert fill(bad.reason, secret, outside) in message


@pytest.mark.parametrize("bad", [p for p in QUERIES if p.values[0].sandbox])
def test_the_sandbox_refuses_it_too(bad: Case, secret: Path, outside: Path, sandbox) -> None:
    assert sandbox.execute('SELECT count(*) FROM "lake/flights"').fetchall() == [(len(FLIGHTS),)]
    with pytest.raises(duckdb.Error) as caught:
        sandbox.execute(fill(bad.sql, secret, outside)).fetchall()
    settings = sandbox.execute("SELECT current_setting('enable_external_access'), "
                               "current_setting('lock_configuration')").fetchall()
    assert SECRET_TEXT not in str(caught.value)
    assert settings == [(False, True)]
    assert list(outside.rglob("*")) == []


def test_setting_changes_leave_current_setting_as_it_was(sandbox) -> None:
    attempts = ["SET enable_external_access = true", "SET GLOBAL enable_external_access = true",
                "SET SESSION threads = 64", "RESET lock_configuration", "PRAGMA threads = 64",
                "SET allowed_directories = ['/']", "SET allowed_paths = ['/etc/passwd']",
                "SET memory_limit = '1TB'", "SET autoinstall_known_extensions = true"]
    query = ("SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
             "current_setting('threads'), current_setting('memory_limit'), current_setting('allowed_directories')")
    before = sandbox.execute(query).fetchall()
    for text in attempts:
        with pytest.raises(ConfigError, match="SET statement is not allowed|RESET statement|PRAGMA statement"):
            check_query(text, tables=TABLES)
        with pytest.raises(duckdb.Error, match="Cannot change configuration option"):
            sandbox.execute(text)
    assert sandbox.execute(query).fetchall() == before
    assert before[0][:3] == (False, True, 1)


# Expressions inside ordinary rules: (rules, field, reason).
SPEC_CASES = [
    pytest.param([{"filter": "carrier IN (SELECT * FROM read_csv('{secret}'))"}], "rules[0].filter",
                 "table function read_csv is not allowed", id="filter-subquery-reader"),
    pytest.param([{"filter": "carrier IN (SELECT content FROM '{secret}')"}], "rules[0].filter",
                 "subqueries are not allowed in an expression", id="filter-subquery-path"),
    pytest.param([{"filter": "EXISTS (SELECT 1 FROM \"warehouse/airlines\")"}], "rules[0].filter",
                 "subqueries are not allowed in an expression", id="filter-exists"),
    pytest.param([{"filter": "id > 0; DROP VIEW \"lake/flights\""}], "rules[0].filter",
                 "DROP statement is not allowed", id="filter-two-statements"),
    pytest.param([{"derive": {"x": "read_text('{secret}')"}}], "rules[0].derive.x",
                 "table function read_text is not allowed", id="derive-read_text"),
    pytest.param([{"derive": {"x": "ReAd_BlOb('{secret}')"}}], "rules[0].derive.x",
                 "table function read_blob is not allowed", id="derive-case-trick"),
    pytest.param([{"derive": {"x": "getenv('HOME')"}}], "rules[0].derive.x", "function getenv is not allowed",
                 id="derive-getenv"),
    pytest.param([{"group_by": ["carrier"]}, {"aggregate": {"n": "count(*) + len(glob('/*'))"}}],
                 "rules[1].aggregate.n", "table function glob is not allowed", id="aggregate-glob"),
    pytest.param([{"dedupe": {"keys": ["carrier"], "order": ["(SELECT 1 FROM '{secret}') DESC"]}}],
                 "rules[0].dedupe.order[0]", "subqueries are not allowed in an expression", id="dedupe-order-subquery"),
    pytest.param([{"dedupe": {"keys": ["carrier"], "order": ["id; COPY (SELECT 1) TO '{outside}/x'"]}}],
                 "rules[0].dedupe.order[0]", "COPY statement is not allowed", id="dedupe-order-copy"),
    pytest.param([{"cast": {"id": "INTEGER), read_text('{secret}'"}}], "rules[0].cast.id",
                 "is not a DuckDB type", id="cast-type-injection"),
    pytest.param([{"sql": "SELECT * FROM previous; DROP VIEW \"lake/flights\""}], "rules[0].sql",
                 "DROP statement is not allowed", id="sql-rule-then-drop"),
    pytest.param([{"sql": "SELECT * FROM previous; SELECT * FROM previous"}], "rules[0].sql",
                 "exactly one statement expected, found 2", id="sql-rule-two-statements"),
    pytest.param([{"sql": 'SELECT * FROM previous JOIN "files/airlines_csv" USING (carrier)'}], "rules[0].sql",
                 "unknown table 'files/airlines_csv' (known: lake/flights, previous)",
                 id="sql-rule-registered-but-not-a-spec-source"),
    pytest.param([{"sql": 'SELECT * FROM "lake/secrets"'}], "rules[0].sql",
                 "unknown table 'lake/secrets'", id="sql-rule-unregistered-table"),
    pytest.param([{"sql": "SELECT * FROM source"}], "rules[0].sql",
                 "unknown table 'source'", id="sql-rule-internal-cte-name"),
    pytest.param([{"sql": "SELECT * FROM airlines"}], "rules[0].sql",
                 "unknown table 'airlines'", id="sql-rule-attached-table-name"),
]


@pytest.mark.parametrize("rules, field, reason", SPEC_CASES)
def test_specs_with_escapes_in_rules_do_not_compile(rules, field, reason, secret: Path, outside: Path) -> None:
    filled = [{k: _fill_any(v, secret, outside) for k, v in rule.items()} for rule in rules]
    spec = make_spec(filled, [("id", "INTEGER")])
    with pytest.raises(ConfigError) as caught:
        compile_spec(spec, SOURCES, file="specs/bad.yaml")
    message = str(caught.value)
    assert message.startswith(f"specs/bad.yaml: {field}: ")
    assert reason in message and "\n" not in message


def _fill_any(value, secret: Path, outside: Path):
    if isinstance(value, str):
        return fill(value, secret, outside)
    if isinstance(value, list):
        return [_fill_any(v, secret, outside) for v in value]
    if isinstance(value, dict):
        return {k: _fill_any(v, secret, outside) for k, v in value.items()}
    return value


def test_spec_with_a_two_statement_sql_rule_fails_to_load_from_yaml(tmp_path: Path, lake) -> None:
    from datacrew_resources.config.spec import load_spec

    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntype: etl\nsources: [lake/flights]\n"
        "rules:\n  - sql: |\n      SELECT * FROM previous;\n      ATTACH '/tmp/x.db' AS x\n"
        "target_schema: {columns: [{name: id, type: INTEGER}]}\n"
    )
    spec = load_spec(path).spec  # the YAML is well formed; the compiler refuses the SQL
    engine = Engine(lake, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    with pytest.raises(ConfigError, match=r"^.*bad\.yaml: rules\[0\]\.sql: .*ATTACH statement is not allowed$"):
        engine.compile(spec, file=str(path))


def test_values_from_specs_stay_values(engine: Engine, tmp_path: Path) -> None:
    """Text a spec gives as data (fill values, categories) is quoted, never run."""
    payload = "x'); COPY (SELECT 1) TO '/tmp/pwned.csv'; --"
    rules = [{"derive": {"note": "CASE WHEN id = 1 THEN NULL ELSE 'ok' END"}},
             {"fill_null": {"note": payload}},
             {"normalize": {"categories": {"origin": {payload: ["JFK"]}}}}]
    spec = make_spec(rules, [("id", "INTEGER"), ("note", "VARCHAR"), ("origin", "VARCHAR")])
    result = engine.execute(spec, engine.compile(spec), tmp_path / "out" / "t.parquet")
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT * FROM read_parquet('{result.output_path}') WHERE id = 1").fetchall()
    assert rows == [(1, payload, payload)]
    assert not Path("/tmp/pwned.csv").exists()


def test_guard_accepts_what_the_corpus_is_a_variant_of() -> None:
    """The corpus rejects by reason, not by accident: the honest versions pass."""
    for text in ['SELECT * FROM "lake/flights" WHERE carrier IN (SELECT carrier FROM "warehouse/airlines")',
                 'WITH p AS (SELECT * FROM previous) SELECT * FROM p UNION ALL SELECT * FROM previous',
                 'SELECT * FROM "lake/flights" f, LATERAL (SELECT f.id * 2 AS twice)',
                 "SELECT upper(carrier) /* a comment */ FROM \"LAKE/FLIGHTS\"",
                 'WITH "x.csv" AS (SELECT 1 AS a) SELECT * FROM "x.csv"']:
        check_query(text, tables=TABLES)
    check_expression("'../../etc/passwd' || upper(carrier)", field="rules[0].derive.x")
