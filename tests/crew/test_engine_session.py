"""A crew run's engine session: one sandbox for every step, and the time limit interrupts a
write under way (nothing is published, the reason is one line)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from datacrew_resources.config import Home
from datacrew_resources.config.platform import LLMConfig
from datacrew_resources.crew import CrewAIRunner, CrewRunFailed
from datacrew_resources.engine import Engine, SourceRef, TransformationFailed
from datacrew_resources.transformation import run_transformation
from datacrew_resources.workbench import EngineWorkbench
from tests.engine.helpers import make_spec

from .small_home import small_home
from .test_hosted_llm import EXPECTED_ROWS, FLIGHTS

ROWS = 6000  # a three-way cross join of this many rows runs for minutes
SLOW_SQL = 'SELECT max(a.id * b.id - c.id) AS m FROM "lake/n" AS a, "lake/n" AS b, "lake/n" AS c'
TIMEOUT = 3  # seconds: the planner reaches execute_plan well before, the query ends long after


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT range::INTEGER AS id FROM range({ROWS})) TO '{data / 'n.parquet'}'")
    source = SourceRef("lake/n", "parquet", str(data / "n.parquet"), columns=(("id", "INTEGER"),))
    return Engine({"lake/n": source}, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")


def test_the_time_limit_interrupts_the_write_and_keeps_the_previous_output(engine, tmp_path, monkeypatch):
    previous = make_spec([{"sql": 'SELECT max(id)::BIGINT AS m FROM "lake/n"'}], [("m", "BIGINT")], sources=["lake/n"])
    engine.execute(previous, engine.compile(previous))
    output = engine.output_location(previous).path
    before = output.read_bytes()
    spec = make_spec([{"sql": SLOW_SQL}], [("m", "BIGINT")], sources=["lake/n"])
    runner = CrewAIRunner(LLMConfig(timeout_seconds=TIMEOUT), storage_dir=tmp_path / "crewai")

    with engine.session(spec) as session:
        writes: list[BaseException | None] = []
        execute = session.execute

        def recorded_execute(plan):
            try:
                result = execute(plan)
            except BaseException as e:
                writes.append(e)
                raise
            writes.append(None)
            return result

        monkeypatch.setattr(session, "execute", recorded_execute)
        workbench = EngineWorkbench(engine, spec, output_path=None, spec_file="specs/t.yaml", session=session)
        with pytest.raises(CrewRunFailed) as failed:
            runner.run(workbench, spec_summary=spec.model_dump(mode="json"), agent_id="etl-architect-1")

    assert str(failed.value) == f"t: crew run failed: time limit of {TIMEOUT}s exceeded (llm.timeout_seconds)"
    # The write had started and was interrupted (the runner waits for the tool to return).
    [write] = writes
    assert isinstance(write, TransformationFailed)
    assert str(write) == f"t: write interrupted: time limit of {TIMEOUT}s exceeded (llm.timeout_seconds)"
    assert workbench.execution is None
    assert output.read_bytes() == before
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temp file left


# -- a whole run_transformation: one sandbox for every engine step ------------------------

SPEC = {
    "name": "delays_by_carrier",
    "type": "aggregation",
    "sources": ["lake/flights"],
    "rules": [
        {"filter": "dep_delay IS NOT NULL"},
        {"group_by": ["carrier"]},
        {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}},
    ],
    "target_schema": {"columns": [
        {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
        {"name": "flights", "type": "BIGINT", "min": 0},
        {"name": "avg_dep_delay", "type": "DOUBLE"},
    ]},
    "owner": "team:analytics",
    "agent": "etl-architect-1",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Home:
    """A discovered home: one lake file of six flights and one spec."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return small_home(tmp_path / "home", flights=FLIGHTS, spec=SPEC, config={
        "sources": [{"name": "lake", "type": "data_lake", "uri": "sources/lake", "owner": "team:flight-ops"}],
        "transformations": "specs/*.yaml",
    })


def test_a_crew_run_opens_one_sandbox_for_all_its_engine_steps(home, monkeypatch):
    import datacrew_resources.engine as engine_module

    opened: list[list[str]] = []
    real = engine_module.open_sandbox

    def counted(sources, **options):
        refs = list(sources)
        opened.append([ref.key for ref in refs])
        return real(refs, **options)

    monkeypatch.setattr(engine_module, "open_sandbox", counted)
    runner = CrewAIRunner(home.load_config().llm, storage_dir=home.state_dir / "crewai")
    outcome = run_transformation(home, "delays_by_carrier", runner)

    assert opened == [["lake/flights"]]  # inspect, execute, validate and the preview share it
    assert [c["tool"] for c in outcome.tool_calls] == [
        "inspect_dataset", "compile_plan", "execute_plan", "validate_output"]
    assert all(c["ok"] for c in outcome.tool_calls)
    assert outcome.record_count == len(EXPECTED_ROWS)
    with duckdb.connect() as con:
        written = con.execute("SELECT * FROM read_parquet(?)", [outcome.output_uri]).fetchall()
    assert outcome.preview_rows == [list(row) for row in written]
    assert sorted(written) == EXPECTED_ROWS
    assert [c.name for c in outcome.columns] == ["carrier", "flights", "avg_dep_delay"]
    assert list((home.tmp_dir).iterdir()) == []  # the session's spill directory is gone
