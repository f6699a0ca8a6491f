"""`engine: spark`: the demo specs on Spark (local mode) write what DuckDB writes.

One SparkSession serves the module (starting the JVM takes seconds). The demo home is
built and discovered once; every demo spec runs on DuckDB into its default output
(which later specs read) and on Spark into `spark/<name>`, over the same inputs.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sqlglot import exp

import datacrew_resources.engine as engine_module
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import ConfigErrors, Home
from datacrew_resources.config.platform import EngineConfig, PlatformConfig
from datacrew_resources.config.spec import TransformationSpec, load_spec
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import TEMPLATE_DIR, install_templates
from datacrew_resources.engine import Engine, ExecutionResult, TransformationFailed, outputs
from datacrew_resources.engine.spark_session import spark_session, stop_spark
from datacrew_resources.environment import prepare_environment
from datacrew_resources.source_refs import build_engine

from .helpers import make_spec

DEMO_SPECS = sorted(path.stem for path in (TEMPLATE_DIR / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def spark():
    """The process's local Spark for this module; the JVM is ended afterwards."""
    session = spark_session(EngineConfig(threads=2, memory_limit="1GB"))
    try:
        yield session
    finally:
        stop_spark()


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory) -> tuple[Home, Engine, dict[str, TransformationSpec]]:
    """The discovered demo home, its engine, and its specs by name."""
    home = Home(tmp_path_factory.mktemp("spark_demo"))
    install_templates(home)
    build_demo_sources(home.root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home.root / "dagster"))
        prepare_environment(home)
    config = home.load_config()
    discover(home, config)
    specs = home.load_specs(config)
    return home, build_engine(home, config, specs), {loaded.spec.name: loaded.spec for loaded in specs}


@pytest.fixture(scope="module")
def runs(demo) -> dict[str, tuple[ExecutionResult, ExecutionResult]]:
    """Each demo spec on DuckDB (default output) then on Spark (`spark/...`), upstream first."""
    _, engine, specs = demo
    results = {}
    for name in _upstream_first(specs):
        spec = specs[name]
        plan = engine.compile(spec)
        on_duckdb = engine.execute(spec, plan)
        on_spark = engine.execute(_on(spec, "spark"), plan, _spark_output(spec))
        results[name] = (on_duckdb, on_spark)
    return results


def _on(spec: TransformationSpec, engine: str) -> TransformationSpec:
    """The same spec with `engine:` set, as a spec file would say it."""
    return TransformationSpec.model_validate({**spec.model_dump(mode="json"), "engine": engine})


def _spark_output(spec: TransformationSpec) -> str:
    if spec.output.format == "warehouse":
        return "spark/warehouse.duckdb"
    return f"spark/{spec.name}" if spec.output.partition_by else f"spark/{spec.name}.{spec.output.format}"


def _upstream_first(specs: dict[str, TransformationSpec]) -> list[str]:
    done: list[str] = []
    while len(done) < len(specs):
        for name, spec in sorted(specs.items()):
            upstream = {key.split("/", 1)[1] for key in spec.sources if key.startswith(f"{spec.layer}/")}
            if name not in done and upstream <= set(done):
                done.append(name)
    return done


def _read(engine: Engine, spec: TransformationSpec, output_path: str | None = None) -> pa.Table:
    """The output as the platform reads it back (declared types for CSV and JSON)."""
    with engine.read_output(spec, output_path) as (con, table):
        source = table if isinstance(table, exp.Table) else exp.Table(this=table)
        return con.sql(exp.select("*").from_(source).sql(dialect="duckdb")).to_arrow_table()


def _sorted(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)


# -- the demo specs: same rows, same columns, same types ---------------------------------


@pytest.mark.parametrize("name", DEMO_SPECS)
def test_spark_output_equals_duckdb_output(demo, runs, name):
    _, engine, specs = demo
    spec = specs[name]
    on_duckdb, on_spark = runs[name]
    assert (on_duckdb.engine, on_spark.engine) == ("duckdb", "spark")
    assert on_spark.record_count == on_duckdb.record_count > 0
    assert on_spark.report.violations == on_duckdb.report.violations == []

    duck, spark = _read(engine, spec), _read(engine, spec, _spark_output(spec))
    assert spark.schema.names == duck.schema.names == [c.name for c in spec.target_schema.columns]
    assert spark.schema.types == duck.schema.types
    # Sums and means may differ in the last bits: Spark adds up in another order.
    pd.testing.assert_frame_equal(_sorted(spark), _sorted(duck), check_exact=False, rtol=1e-9)
    assert engine.validate_output(spec, _spark_output(spec)).violations == []


def test_spark_writes_outputs_by_the_same_contract(demo, runs):
    home, _, specs = demo
    spark_dir = home.outputs_dir / "spark"
    # The format each spec asks for, at the path asked for; no temp or scratch file is left.
    expected = {Path(_spark_output(spec)).name for spec in specs.values()}
    assert "airports.csv" in expected and "warehouse.duckdb" in expected
    assert sorted(p.name for p in spark_dir.iterdir()) == sorted(expected)
    assert list(home.tmp_dir.iterdir()) == []
    duck_csv = (home.outputs_dir / "transformed" / "airports.csv").read_text().splitlines()
    spark_csv = (spark_dir / "airports.csv").read_text().splitlines()
    assert spark_csv[0] == duck_csv[0]
    assert sorted(spark_csv[1:]) == sorted(duck_csv[1:])  # no aggregation: identical text


# -- switching engines is configuration only -----------------------------------------------


def test_spec_engine_field_and_platform_default_pick_the_engine(demo, runs, tmp_path):
    home, engine, specs = demo
    spec_file = tmp_path / "daily_summary.yaml"
    text = (TEMPLATE_DIR / "specs" / "daily_summary.yaml").read_text()
    spec_file.write_text(text + "engine: spark\n")
    on_spark = load_spec(spec_file).spec
    assert on_spark.engine == "spark"
    assert on_spark.code_version == specs["daily_summary"].code_version  # not a change of the asset

    platform_spark = Engine(engine.sources, output_dir=home.outputs_dir, temp_dir=home.tmp_dir,
                            config=PlatformConfig.model_validate({"engine": "spark"}).engine)
    assert platform_spark.config == EngineConfig(name="spark")
    plain = specs["daily_summary"]
    assert platform_spark.execute(plain, platform_spark.compile(plain), "switch/a.parquet").engine == "spark"
    pinned = _on(plain, "duckdb")  # a spec's own engine wins over the platform's
    assert platform_spark.execute(pinned, platform_spark.compile(pinned), "switch/b.parquet").engine == "duckdb"
    assert engine.execute(on_spark, engine.compile(on_spark), "switch/c.parquet").engine == "spark"


def test_an_unknown_engine_is_a_one_line_error_naming_the_field(tmp_path):
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text((TEMPLATE_DIR / "specs" / "daily_summary.yaml").read_text() + "engine: flink\n")
    with pytest.raises(ConfigErrors) as raised:
        load_spec(spec_file)
    message = str(raised.value)
    assert "\n" not in message and "engine" in message and "flink" in message


def test_a_crew_run_uses_the_platform_engine(demo, runs, tmp_path, monkeypatch):
    """`engine: spark` in datacrew.yaml: the asset's crew run (run_transformation) runs on Spark."""
    from datacrew_resources.crew import CrewAIRunner
    from datacrew_resources.transformation import run_transformation

    source, source_engine, specs = demo
    home = Home(tmp_path / "home")
    shutil.copytree(source.root, home.root, ignore=shutil.ignore_patterns("dagster"))
    config = yaml.safe_load(home.config_path.read_text())
    config["engine"] = {**config["engine"], "name": "spark"}
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("DAGSTER_HOME", str(home.root / "dagster"))
    prepare_environment(home)
    spark_runs = []
    real = engine_module.run_spark_query

    def recorded(con, spec, *args, **kwargs):
        spark_runs.append(spec.name)
        return real(con, spec, *args, **kwargs)

    monkeypatch.setattr(engine_module, "run_spark_query", recorded)
    outcome = run_transformation(home, "daily_summary", CrewAIRunner(home.load_config().llm,
                                                                     storage_dir=home.state_dir / "crewai"))
    assert spark_runs == ["daily_summary"]
    assert outcome.record_count == runs["daily_summary"][0].record_count
    engine = build_engine(home, home.load_config(), home.load_specs(home.load_config()))
    spec = specs["daily_summary"]
    pd.testing.assert_frame_equal(_sorted(_read(engine, spec)), _sorted(_read(source_engine, spec)),
                                  check_exact=False, rtol=1e-9)


def test_an_empty_result_is_an_empty_output_with_the_declared_columns(demo, runs):
    _, engine, _ = demo
    spec = make_spec([{"filter": "carrier = 'none'"}], [("carrier", "VARCHAR"), ("name", "VARCHAR")],
                     sources=["warehouse/airlines"], name="nobody")
    result = engine.execute(_on(spec, "spark"), engine.compile(spec))
    assert (result.engine, result.record_count) == ("spark", 0)
    table = _read(engine, spec)
    assert (table.num_rows, table.schema.names) == (0, ["carrier", "name"])


def test_a_partitioned_output_reads_as_a_source_without_partition_columns(demo, runs):
    """`dir/**/*.parquet` without hive partitioning: Spark reads the files' own columns, as DuckDB does."""
    home, engine, _ = demo
    parts = TransformationSpec.model_validate({
        "name": "airline_parts", "type": "etl", "sources": ["warehouse/airlines"],
        "target_schema": {"columns": [{"name": "carrier", "type": "VARCHAR"}, {"name": "name", "type": "VARCHAR"}]},
        "output": {"format": "parquet", "partition_by": ["carrier"]},
    })
    engine.execute(parts, engine.compile(parts))
    ref = outputs.source_ref("transformed/airline_parts", engine.output_location(parts),
                             (("carrier", "VARCHAR"), ("name", "VARCHAR")))
    reading = Engine({**engine.sources, ref.key: ref}, output_dir=home.outputs_dir, temp_dir=home.tmp_dir)
    spec = make_spec([{"derive": {"label": "carrier || ': ' || name"}}], [("carrier", "VARCHAR"), ("label", "VARCHAR")],
                     sources=[ref.key], name="labels")
    plan = reading.compile(spec)
    reading.execute(spec, plan, "labels/duckdb.parquet")
    reading.execute(_on(spec, "spark"), plan, "labels/spark.parquet")
    duck, spark = _read(reading, spec, "labels/duckdb.parquet"), _read(reading, spec, "labels/spark.parquet")
    assert spark.num_rows == duck.num_rows > 0
    pd.testing.assert_frame_equal(_sorted(spark), _sorted(duck))


# -- what Spark cannot run: one line naming the spec and the feature -----------------------


def test_a_function_spark_lacks_names_spec_and_function_and_keeps_the_output(demo, runs):
    _, engine, _ = demo
    spec = make_spec([{"derive": {"similar": "jaro_winkler_similarity(carrier, 'AA')"}}],
                     [("carrier", "VARCHAR"), ("similar", "DOUBLE")], sources=["warehouse/airlines"], name="similar")
    plan = engine.compile(spec)
    first = engine.execute(spec, plan)
    before = Path(first.output_path).read_bytes()
    with pytest.raises(TransformationFailed) as raised:
        engine.execute(_on(spec, "spark"), plan)
    message = str(raised.value)
    assert message.startswith("similar: engine spark cannot run it: function jaro_winkler_similarity")
    assert "\n" not in message
    assert Path(first.output_path).read_bytes() == before  # invariant 3: the previous output stays


def test_a_type_spark_lacks_names_spec_and_type(demo, runs):
    _, engine, _ = demo
    spec = make_spec([{"derive": {"at": "TIME '10:30:00'"}}], [("carrier", "VARCHAR"), ("at", "TIME")],
                     sources=["warehouse/airlines"], name="clock")
    with pytest.raises(TransformationFailed) as raised:
        engine.execute(_on(spec, "spark"), engine.compile(spec))
    assert str(raised.value) == (
        "clock: engine spark cannot run it: type TIME in CAST('10:30:00' AS TIME) has no Spark SQL counterpart")


def test_a_value_that_does_not_convert_fails_the_spark_run_naming_it(demo, runs):
    _, engine, _ = demo
    spec = make_spec([], [("carrier", "VARCHAR"), ("name", "INTEGER")], sources=["warehouse/airlines"],
                     name="numbers")
    with pytest.raises(TransformationFailed) as raised:
        engine.execute(_on(spec, "spark"), engine.compile(spec))
    message = str(raised.value)
    assert message.startswith("numbers: execution failed:") and "column 'name' (INTEGER): cannot convert value" in message
    assert "\n" not in message


def test_an_interrupted_spark_write_publishes_nothing(demo, runs):
    """The run's time limit (`EngineSession.interrupt`) cancels the Spark job; nothing is published."""
    home, engine, specs = demo
    spec = _on(specs["flights_clean"], "spark")
    plan = engine.compile(spec)
    with engine.session(spec, "spark/interrupted.parquet") as session:
        timer = threading.Timer(0.5, session.interrupt, ["time limit"])
        timer.start()
        try:
            with pytest.raises(TransformationFailed) as raised:
                session.execute(plan)
        finally:
            timer.cancel()
    # Cancelled mid-job, or (on a fast machine) stopped before the rename: either way, not published.
    assert str(raised.value).startswith("flights_clean: write interrupted")
    assert str(raised.value).endswith("time limit")
    assert not (home.outputs_dir / "spark" / "interrupted.parquet").exists()
    assert list(home.tmp_dir.iterdir()) == []
