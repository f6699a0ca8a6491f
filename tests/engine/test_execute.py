"""Execution: schema checks before the rename, and a failed run never touches the old output."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.engine import Engine, SourceRef, TransformationFailed

from datacrew_resources.engine.writer import temp_path_for

from .helpers import FLIGHTS, flights_as_dicts, make_spec, write_table

GOOD = make_spec(
    [{"group_by": ["carrier"]}, {"aggregate": {"flights": "count(*)"}}],
    [{"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
     {"name": "flights", "type": "BIGINT", "min": 0}],
)


def output(tmp_path: Path) -> Path:
    return tmp_path / "out" / "t.parquet"


def test_execute_writes_and_reports(engine: Engine, tmp_path: Path) -> None:
    result = engine.execute(GOOD, engine.compile(GOOD), output(tmp_path))
    data = json.loads(json.dumps(result.to_dict()))
    carriers = {f[1] for f in FLIGHTS}
    assert data["status"] == "success" and data["record_count"] == len(carriers)
    assert data["bytes"] == output(tmp_path).stat().st_size
    assert data["schema"] == {"ok": True, "row_count": len(carriers), "violations": []}
    assert [p.name for p in output(tmp_path).parent.iterdir()] == ["t.parquet"]
    assert engine.validate_output(GOOD, output(tmp_path)).ok


def assert_failure_keeps_previous_output(engine: Engine, tmp_path: Path, spec) -> TransformationFailed:
    engine.execute(GOOD, engine.compile(GOOD), output(tmp_path))
    before = output(tmp_path).read_bytes()
    with pytest.raises(TransformationFailed) as caught:
        engine.execute(spec, engine.compile(spec), output(tmp_path))
    assert output(tmp_path).read_bytes() == before
    assert [p.name for p in output(tmp_path).parent.iterdir()] == ["t.parquet"]  # no temp file left
    assert "\n" not in str(caught.value)
    return caught.value


def test_primary_key_duplicates_fail_and_keep_previous_output(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([], [{"name": "carrier", "type": "VARCHAR", "primary_key": True}, ("id", "INTEGER")])
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    counts = {c: sum(1 for f in FLIGHTS if f[1] == c) for c in {f[1] for f in FLIGHTS}}
    duplicated_rows = sum(n for n in counts.values() if n > 1)
    [violation] = failure.report.violations
    assert (violation.kind, violation.column, violation.count) == ("primary_key", "carrier", duplicated_rows)
    assert 0 < len(violation.samples) <= 5
    assert all(counts[s["carrier"]] > 1 for s in violation.samples)
    assert f"carrier: {duplicated_rows} rows share a primary key value" in str(failure)


def test_value_constraints_and_nulls_are_counted(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([], [
        {"name": "id", "type": "INTEGER", "min": 2, "max": 5},
        {"name": "carrier", "type": "VARCHAR", "accepted_values": ["AA", "UA"]},
        {"name": "origin", "type": "VARCHAR", "pattern": "^J"},
        {"name": "dep_delay", "type": "DOUBLE", "nullable": False},
    ])
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    flights = flights_as_dicts()
    expected = {
        ("id", "min"): sum(f["id"] < 2 for f in flights),
        ("id", "max"): sum(f["id"] > 5 for f in flights),
        ("carrier", "accepted_values"): sum(f["carrier"] not in ("AA", "UA") for f in flights),
        ("origin", "pattern"): sum(not f["origin"].startswith("J") for f in flights),
        ("dep_delay", "null"): sum(f["dep_delay"] is None for f in flights),
    }
    got = {(v.column, v.kind): v.count for v in failure.report.violations}
    assert got == expected
    nulls = next(v for v in failure.report.violations if v.kind == "null")
    declared = ("id", "carrier", "origin", "dep_delay")
    assert nulls.samples == [{k: f[k] for k in declared} for f in flights if f["dep_delay"] is None]
    assert failure.report.row_count == len(FLIGHTS)


def test_value_that_cannot_convert_to_the_declared_type_fails(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([], [("origin", "INTEGER")])
    plan = engine.compile(spec)
    assert plan.conversions == {"origin": "checked_cast"}
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    assert "execution failed" in str(failure)
    assert "column 'origin' (INTEGER): cannot convert value" in str(failure)


def test_values_that_do_convert_pass_the_checked_cast(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([{"cast": {"id": "VARCHAR"}}], [("id", "INTEGER")])
    engine.execute(spec, engine.compile(spec), output(tmp_path))
    assert engine.validate_output(spec, output(tmp_path)).ok


def test_a_query_failing_mid_copy_leaves_no_temp_file(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([{"derive": {"boom": "error('stop ' || id)"}}], [("boom", "VARCHAR")])
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    assert "execution failed" in str(failure) and "stop " in str(failure)


def test_a_failed_run_still_removes_a_killed_runs_temp_file(engine: Engine, tmp_path: Path) -> None:
    engine.execute(GOOD, engine.compile(GOOD), output(tmp_path))
    before = output(tmp_path).read_bytes()
    stale = temp_path_for(output(tmp_path))
    stale.write_bytes(b"PAR1 half a file")  # as a SIGKILLed run leaves it
    spec = make_spec([{"derive": {"boom": "error('stop ' || id)"}}], [("boom", "VARCHAR")])
    with pytest.raises(TransformationFailed, match="stop "):
        engine.execute(spec, engine.compile(spec), output(tmp_path))
    assert output(tmp_path).read_bytes() == before
    assert [p.name for p in output(tmp_path).parent.iterdir()] == ["t.parquet"]


def test_a_column_named_file_row_number_is_checked_like_any_other(engine: Engine, tmp_path: Path) -> None:
    # DuckDB numbers parquet rows in a column of that name; the output's own column must not
    # break the check nor stand in for the row's position (its values run backwards here).
    rules = [{"derive": {"file_row_number": "100 - id"}}]
    columns = [("id", "INTEGER"), {"name": "carrier", "type": "VARCHAR", "primary_key": True},
               {"name": "file_row_number", "type": "INTEGER", "max": 0}]
    spec = make_spec(rules, columns)
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    flights = flights_as_dicts()
    row = {f["id"]: {"id": f["id"], "carrier": f["carrier"], "file_row_number": 100 - f["id"]} for f in flights}
    by_kind = {v.kind: v for v in failure.report.violations}
    assert set(by_kind) == {"max", "primary_key"}
    assert by_kind["max"].count == len(FLIGHTS)
    assert by_kind["max"].samples == [row[f["id"]] for f in flights[:5]]  # the first five in file order
    shared = [f for f in flights if sum(g["carrier"] == f["carrier"] for g in flights) > 1]
    assert by_kind["primary_key"].count == len(shared)
    assert by_kind["primary_key"].samples == [row[f["id"]] for f in shared][:5]

    clean = make_spec(rules, [("id", "INTEGER"), ("file_row_number", "INTEGER")])
    engine.execute(clean, engine.compile(clean), output(tmp_path))
    assert engine.validate_output(clean, output(tmp_path)).ok
    undeclared = engine.validate_output(make_spec([], [("id", "INTEGER")]), output(tmp_path))
    assert [(v.kind, v.column) for v in undeclared.violations] == [("extra_column", "file_row_number")]


def test_a_constraint_duckdb_cannot_evaluate_is_named(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec([], [{"name": "origin", "type": "VARCHAR", "pattern": "J(?=F)"}])  # no lookahead in RE2
    with pytest.raises(ConfigError) as caught:
        engine.execute(spec, engine.compile(spec), output(tmp_path))
    assert str(caught.value).startswith("target_schema.columns[0].pattern: 'J(?=F)': cannot be checked: ")
    assert not output(tmp_path).exists() and list(output(tmp_path).parent.iterdir()) == []


def test_validate_output_reports_structure(engine: Engine, tmp_path: Path) -> None:
    engine.execute(GOOD, engine.compile(GOOD), output(tmp_path))
    other = make_spec([], [("carrier", "INTEGER"), ("missing", "VARCHAR")])
    report = engine.validate_output(other, output(tmp_path))
    kinds = {(v.kind, v.column) for v in report.violations}
    assert kinds == {("type_mismatch", "carrier"), ("missing_column", "missing"), ("extra_column", "flights")}
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False


def test_plan_sql_is_guarded_again_at_execution(engine: Engine, tmp_path: Path) -> None:
    plan = engine.compile(GOOD)
    tampered = type(plan)(**{**plan.__dict__, "sql": "SELECT * FROM read_csv('/etc/passwd')"})
    with pytest.raises(ConfigError, match="table function read_csv is not allowed"):
        engine.execute(GOOD, tampered, output(tmp_path))


def test_output_must_stay_in_the_output_directory(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be inside the output directory"):
        engine.execute(GOOD, engine.compile(GOOD), tmp_path / "out" / ".." / "escape.parquet")


def test_unknown_source_in_inspect(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="'lake/nope': unknown source"):
        engine.inspect("lake/nope")


def test_unreadable_source_is_a_one_line_error(tmp_path: Path) -> None:
    ref = SourceRef("lake/gone", "parquet", str(tmp_path / "gone.parquet"))
    engine = Engine({"lake/gone": ref}, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    with pytest.raises(ConfigError, match="lake/gone: .*cannot be read"):
        engine.inspect("lake/gone")


def test_warehouse_table_in_a_schema(tmp_path: Path) -> None:
    db = tmp_path / "wh.db"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA sales")
        write_table(con, "sales.orders", "id INTEGER, amount DOUBLE", [(1, 2.5), (2, 4.0)])
    ref = SourceRef("warehouse/orders", "duckdb_table", str(db), table="sales.orders")
    engine = Engine({"warehouse/orders": ref}, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    spec = make_spec([{"aggregate": {"total": "sum(amount)"}}], [("total", "DOUBLE")], sources=["warehouse/orders"])
    result = engine.execute(spec, engine.compile(spec), tmp_path / "out" / "t.parquet")
    assert result.record_count == 1
    with duckdb.connect() as con:
        assert con.execute(f"SELECT total FROM '{result.output_path}'").fetchall() == [(6.5,)]


def test_on_violation_warn_writes_output_but_contract_still_fails(engine: Engine, tmp_path: Path) -> None:
    columns = [{"name": "carrier", "type": "VARCHAR", "primary_key": True}, {"name": "id", "type": "INTEGER", "max": 1}]
    spec = make_spec([], columns).model_copy(
        update={"target_schema": make_spec([], columns).target_schema.model_copy(update={"on_violation": "warn"})}
    )
    result = engine.execute(spec, engine.compile(spec), output(tmp_path))
    kinds = {v.kind for v in result.report.violations}
    assert kinds == {"primary_key", "max"} and result.record_count == len(FLIGHTS)
    nullable_broken = make_spec([], [{"name": "dep_delay", "type": "DOUBLE", "nullable": False}])
    strict_nulls = nullable_broken.model_copy(
        update={"target_schema": nullable_broken.target_schema.model_copy(update={"on_violation": "warn"})}
    )
    assert_failure_keeps_previous_output(engine, tmp_path, strict_nulls)


# -- on_violation: quarantine ------------------------------------------------------------

def with_on_violation(spec, mode: str):
    return spec.model_copy(update={"target_schema": spec.target_schema.model_copy(update={"on_violation": mode})})


QUARANTINED = with_on_violation(make_spec([], [
    {"name": "carrier", "type": "VARCHAR", "primary_key": True},
    {"name": "id", "type": "INTEGER", "max": 4},
    {"name": "dep_delay", "type": "DOUBLE", "nullable": False},
]), "quarantine")


def expected_violations(flight: dict) -> list[str]:
    """The rules one fixture row breaks, in declared order, computed independently."""
    shared = sum(g["carrier"] == flight["carrier"] for g in flights_as_dicts()) > 1
    return (["max(id)"] if flight["id"] > 4 else []) + (
        ["null(dep_delay)"] if flight["dep_delay"] is None else []) + (["primary_key(carrier)"] if shared else [])


def test_quarantine_moves_every_breaking_row_aside_with_exact_counts(engine: Engine, tmp_path: Path) -> None:
    result = engine.execute(QUARANTINED, engine.compile(QUARANTINED), output(tmp_path))
    flights = flights_as_dicts()
    bad = [f for f in flights if expected_violations(f)]
    good = [f for f in flights if not expected_violations(f)]
    assert (len(bad), len(good)) == (5, 1)  # AA and UA rows share keys, ids 5-6 exceed max, one null
    assert result.record_count == len(good) and result.report.row_count == len(FLIGHTS)
    assert result.quarantined_rows == len(bad)
    assert result.quarantine.by_kind == {"max": 2, "null": 1, "primary_key": 4}
    assert result.quarantine.by_rule == {"max(id)": 2, "null(dep_delay)": 1, "primary_key(carrier)": 4}
    quarantine = tmp_path / "out" / "t.quarantine.parquet"
    assert result.quarantine.uri == str(quarantine)
    with duckdb.connect() as con:
        kept = con.execute(f"SELECT carrier, id, dep_delay FROM '{output(tmp_path)}'").fetchall()
        moved = con.execute(f"SELECT id, _violation FROM '{quarantine}'").fetchall()  # file order kept
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{quarantine}'").fetchall()}
    assert kept == [(f["carrier"], f["id"], f["dep_delay"]) for f in good]
    assert moved == [(f["id"], expected_violations(f)) for f in bad]
    assert types == {"carrier": "VARCHAR", "id": "INTEGER", "dep_delay": "DOUBLE", "_violation": "VARCHAR[]"}
    assert engine.validate_output(QUARANTINED, output(tmp_path)).ok  # the main output conforms
    data = json.loads(json.dumps(result.to_dict()))
    assert data["quarantined_rows"] == 5 and data["quarantine"]["by_kind"]["primary_key"] == 4
    assert sorted(p.name for p in output(tmp_path).parent.iterdir()) == ["t.parquet", "t.quarantine.parquet"]


def test_a_composite_key_names_all_its_columns(engine: Engine, tmp_path: Path) -> None:
    spec = with_on_violation(make_spec([], [
        {"name": "carrier", "type": "VARCHAR", "primary_key": True},
        {"name": "origin", "type": "VARCHAR", "primary_key": True}, ("id", "INTEGER")]), "quarantine")
    result = engine.execute(spec, engine.compile(spec), output(tmp_path))
    pairs = [(f["carrier"], f["origin"]) for f in flights_as_dicts()]
    assert result.quarantined_rows == sum(pairs.count(p) > 1 for p in pairs) == 0
    assert result.quarantine.by_rule == {}
    spec = with_on_violation(make_spec([{"derive": {"origin": "'X'"}}], [
        {"name": "carrier", "type": "VARCHAR", "primary_key": True},
        {"name": "origin", "type": "VARCHAR", "primary_key": True}, ("id", "INTEGER")]), "quarantine")
    result = engine.execute(spec, engine.compile(spec), output(tmp_path))
    assert result.quarantine.by_rule == {"primary_key(carrier, origin)": 4}


def test_a_clean_quarantining_run_writes_an_empty_quarantine_and_fail_mode_removes_it(
        engine: Engine, tmp_path: Path) -> None:
    engine.execute(QUARANTINED, engine.compile(QUARANTINED), output(tmp_path))
    quarantine = tmp_path / "out" / "t.quarantine.parquet"
    clean = with_on_violation(GOOD, "quarantine")
    result = engine.execute(clean, engine.compile(clean), output(tmp_path))
    assert result.quarantined_rows == 0 and result.quarantine.by_kind == {}
    with duckdb.connect() as con:
        assert con.execute(f"SELECT count(*) FROM '{quarantine}'").fetchall() == [(0,)]
        assert "_violation" in [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '{quarantine}'").fetchall()]
    result = engine.execute(GOOD, engine.compile(GOOD), output(tmp_path))
    assert result.quarantine is None and not quarantine.exists()  # a stale quarantine would mislead


def test_quarantine_still_fails_on_values_that_cannot_convert(engine: Engine, tmp_path: Path) -> None:
    spec = with_on_violation(make_spec([], [("origin", "INTEGER")]), "quarantine")
    failure = assert_failure_keeps_previous_output(engine, tmp_path, spec)
    assert "cannot convert value" in str(failure)


def test_quarantine_still_fails_on_structure_violations() -> None:
    from datacrew_resources.engine.schema_check import SchemaReport, Violation
    report = SchemaReport(3, [Violation("type_mismatch", "a", 1, "is VARCHAR, declared INTEGER"),
                              Violation("extra_column", "b", 1, "undeclared"),
                              Violation("null", "c", 2, "nulls"), Violation("min", "d", 1, "below")])
    assert [v.kind for v in report.failing("quarantine")] == ["type_mismatch", "extra_column"]
    assert [v.kind for v in report.row_violations] == ["null", "min"]


def test_a_declared_violation_column_cannot_be_quarantined() -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="quarantine adds a '_violation' column"):
        make_spec([], [("_violation", "VARCHAR")]).target_schema.model_validate(
            {"columns": [{"name": "_violation", "type": "VARCHAR"}], "on_violation": "quarantine"})
