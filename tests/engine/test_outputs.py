"""Every output format, hive partitions and warehouse tables: where they go, what they hold."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import OutputSpec
from datacrew_resources.engine import Engine
from datacrew_resources.engine.outputs import source_ref

from .helpers import FLIGHTS, make_spec

COLUMNS = [{"name": "id", "type": "INTEGER", "primary_key": True}, ("carrier", "VARCHAR"),
           ("dep_delay", "DOUBLE"), ("distance", "BIGINT")]


def spec_with(output: dict, rules: list | None = None, columns: list | None = None, on_violation: str = "fail"):
    spec = make_spec(rules or [], columns or COLUMNS)
    schema = spec.target_schema.model_copy(update={"on_violation": on_violation})
    return spec.model_copy(update={"output": OutputSpec.model_validate(output), "target_schema": schema})


def expected_rows(where=lambda f: True) -> list[tuple]:
    return sorted((f[0], f[1], f[3], f[4]) for f in FLIGHTS if where(f))


def read(sql: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("fmt, reader", [("parquet", "read_parquet('{p}')"),
                                         ("csv", "read_csv('{p}', header=true)"),
                                         ("json", "read_json('{p}')")])
def test_file_formats_land_at_layer_name_ext(engine: Engine, tmp_path: Path, fmt: str, reader: str) -> None:
    spec = spec_with({"format": fmt})
    result = engine.execute(spec, engine.compile(spec))
    path = tmp_path / "out" / "transformed" / f"t.{fmt}"
    assert result.output_path == result.output_uri == str(path) and result.record_count == len(FLIGHTS)
    assert result.bytes == path.stat().st_size
    assert sorted(read(f"SELECT id, carrier, dep_delay, distance FROM {reader.format(p=path)}")) == expected_rows()
    assert listing(tmp_path / "out") == ["transformed", f"transformed/t.{fmt}"]
    assert engine.validate_output(spec).ok
    preview = engine.preview_output(spec, limit=2)
    assert [c["name"] for c in preview["columns"]] == ["id", "carrier", "dep_delay", "distance"]
    assert [c["type"] for c in preview["columns"]] == ["INTEGER", "VARCHAR", "DOUBLE", "BIGINT"]
    assert len(preview["rows"]) == 2
    assert json.loads(json.dumps(result.to_dict()))["format"] == fmt


def test_csv_validation_reports_missing_and_extra_columns(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "csv"})
    engine.execute(spec, engine.compile(spec))
    other = spec_with({"format": "csv"}, columns=[("id", "INTEGER"), ("missing", "VARCHAR")])
    report = engine.validate_output(other)
    assert {(v.kind, v.column) for v in report.violations} == {
        ("missing_column", "missing"), ("extra_column", "carrier"), ("extra_column", "dep_delay"),
        ("extra_column", "distance")}
    retyped = spec_with({"format": "csv"}, columns=[("id", "INTEGER"), ("carrier", "INTEGER"),
                                                    ("dep_delay", "DOUBLE"), ("distance", "BIGINT")])
    [violation] = engine.validate_output(retyped).violations
    assert violation.kind == "type_mismatch" and "do not read as the declared types" in violation.detail


def test_partitioned_output_is_a_hive_directory_with_exact_types(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "parquet", "partition_by": ["carrier"]})
    result = engine.execute(spec, engine.compile(spec))
    root = tmp_path / "out" / "transformed" / "t"
    assert result.output_path == str(root) and result.record_count == len(FLIGHTS)
    carriers = sorted({f[1] for f in FLIGHTS})
    assert sorted(p.name for p in root.iterdir()) == [f"carrier={c}" for c in carriers]
    assert result.bytes == sum(p.stat().st_size for p in root.rglob("*.parquet"))
    scan = f"read_parquet('{root}/**/*.parquet', hive_partitioning=false)"
    assert sorted(read(f"SELECT id, carrier, dep_delay, distance FROM {scan}")) == expected_rows()
    assert [r[1] for r in read(f"DESCRIBE SELECT * FROM {scan}")] == ["INTEGER", "VARCHAR", "DOUBLE", "BIGINT"]
    assert engine.validate_output(spec).ok
    ref = source_ref("transformed/t", engine.output_location(spec))
    assert (ref.kind, ref.location, ref.hive_partitioning) == ("parquet", f"{root}/**/*.parquet", False)


def test_rewriting_a_partitioned_output_swaps_the_whole_directory(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "csv", "partition_by": ["carrier"]})
    engine.execute(spec, engine.compile(spec))
    narrower = spec_with({"format": "csv", "partition_by": ["carrier"]}, rules=[{"filter": "carrier = 'AA'"}])
    result = engine.execute(narrower, engine.compile(narrower))
    root = tmp_path / "out" / "transformed" / "t"
    assert result.record_count == sum(f[1] == "AA" for f in FLIGHTS)
    assert listing(root) == ["carrier=AA", "carrier=AA/data_0.csv"]  # no partition survives from the old run
    assert sorted(p.name for p in root.parent.iterdir()) == ["t"]  # no temp or aside directory left
    assert engine.validate_output(narrower).ok


def test_a_partitioned_output_with_no_rows_is_an_empty_directory(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "parquet", "partition_by": ["carrier"]}, rules=[{"filter": "false"}])
    result = engine.execute(spec, engine.compile(spec))
    assert result.record_count == 0 and Path(result.output_path).is_dir()
    assert list(Path(result.output_path).iterdir()) == []


def test_partition_columns_must_be_declared(engine: Engine) -> None:
    spec = spec_with({"format": "parquet", "partition_by": ["origin"]})
    with pytest.raises(ConfigError, match=r"output.partition_by\[0\]: 'origin': is not a target_schema column"):
        engine.compile(spec)


def test_warehouse_output_is_a_table_in_a_duckdb_file(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "warehouse"})
    result = engine.execute(spec, engine.compile(spec))
    database = tmp_path / "out" / "warehouse.duckdb"
    assert result.output_path == str(database) and result.output_uri == f"{database}#transformed.t"
    assert result.record_count == len(FLIGHTS) and result.bytes == database.stat().st_size
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute("SELECT id, carrier, dep_delay, distance FROM transformed.t").fetchall()
        assert sorted(rows) == expected_rows()
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        assert tables == [("transformed", "t")]
    assert engine.validate_output(spec).ok
    assert listing(tmp_path / "out") == ["warehouse.duckdb"]  # no WAL, staging file or lock left
    ref = source_ref("transformed/t", engine.output_location(spec))
    assert (ref.kind, ref.location, ref.table) == ("duckdb_table", str(database), "transformed.t")


def test_warehouse_database_and_table_are_configurable_and_quarantine_is_a_table(
        engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "warehouse", "database": "marts/sales.duckdb", "table": "flights"},
                     columns=[*COLUMNS[:-1], {"name": "distance", "type": "BIGINT", "min": 100}],
                     on_violation="quarantine")
    result = engine.execute(spec, engine.compile(spec))
    database = tmp_path / "out" / "marts" / "sales.duckdb"
    short = [f for f in FLIGHTS if f[4] < 100]
    assert result.output_uri == f"{database}#main.flights"
    assert result.quarantine.uri == f"{database}#main.flights__quarantine"
    assert (result.record_count, result.quarantined_rows) == (len(FLIGHTS) - len(short), len(short))
    with duckdb.connect(str(database), read_only=True) as con:
        moved = con.execute("SELECT id, _violation FROM flights__quarantine ORDER BY id").fetchall()
    assert moved == [(f[0], ["min(distance)"]) for f in short]
    # Rewritten without quarantine: both tables change together, the quarantine table goes.
    plain = spec_with({"format": "warehouse", "database": "marts/sales.duckdb", "table": "flights"})
    engine.execute(plain, engine.compile(plain))
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("flights",)]
        assert con.execute("SELECT count(*) FROM flights").fetchall() == [(len(FLIGHTS),)]


def test_a_failing_warehouse_run_leaves_the_table_as_it_was(engine: Engine, tmp_path: Path) -> None:
    from datacrew_resources.engine import TransformationFailed
    spec = spec_with({"format": "warehouse"})
    engine.execute(spec, engine.compile(spec))
    broken = spec_with({"format": "warehouse"}, columns=[*COLUMNS[:-1], {"name": "distance", "type": "BIGINT", "max": 0}])
    with pytest.raises(TransformationFailed, match="distance: 6 values above max 0"):
        engine.execute(broken, engine.compile(broken))
    with duckdb.connect(str(tmp_path / "out" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transformed.t").fetchall() == [(len(FLIGHTS),)]
    assert listing(tmp_path / "out") == ["warehouse.duckdb"]


@pytest.mark.parametrize("output, message", [
    ({"format": "warehouse", "partition_by": ["carrier"]}, "a warehouse table is not partitioned"),
    ({"format": "parquet", "table": "x"}, "only applies to format: warehouse"),
    ({"format": "warehouse", "table": "Bad-Name"}, "must be 'table' or 'schema.table'"),
    ({"format": "warehouse", "database": "../escape.duckdb"}, "without '..'"),
    ({"format": "parquet", "partition_by": ["a", "A"]}, "partition columns repeat"),
    ({"format": "xlsx"}, "Input should be"),
])
def test_bad_output_specs_are_refused(output: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OutputSpec.model_validate(output)


def test_a_warehouse_database_outside_the_outputs_is_refused(engine: Engine, tmp_path: Path) -> None:
    spec = spec_with({"format": "warehouse", "database": str(tmp_path / "elsewhere.duckdb")})
    with pytest.raises(ConfigError, match="output.database: .*must be inside the output directory"):
        engine.execute(spec, engine.compile(spec))


def test_a_spec_that_changes_shape_leaves_no_stale_output_behind(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shapes = [
        ({"format": "parquet"}, ["transformed", "transformed/t.parquet"]),
        ({"format": "csv"}, ["transformed", "transformed/t.csv"]),
        ({"format": "json", "partition_by": ["carrier"]}, None),  # a directory of partitions
        ({"format": "warehouse"}, ["transformed", "warehouse.duckdb"]),
        ({"format": "parquet"}, ["transformed", "transformed/t.parquet", "warehouse.duckdb"]),
    ]
    for output, expected in shapes:
        spec = spec_with(output)
        engine.execute(spec, engine.compile(spec))
        if expected is None:
            assert {p.parent for p in (out / "transformed" / "t").rglob("*.json")}
            assert sorted(p.name for p in (out / "transformed").iterdir()) == ["t"]
        else:
            assert listing(out) == expected
        assert engine.validate_output(spec).ok
