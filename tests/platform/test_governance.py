"""The execution context: clearance decides what an agent reads; its limits bound the engine."""

from __future__ import annotations

import pytest

from datacrew_assets.cli import main
from datacrew_resources.config import ConfigError
from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.context import governed_engine

from .conftest import run_assets


def _classify_warehouse(home, level: str) -> None:
    text = home.config_path.read_text()
    marker = "  - name: warehouse\n    type: data_warehouse\n"
    assert marker in text
    home.config_path.write_text(text.replace("classification: internal\n    description: Reference", f"classification: {level}\n    description: Reference"))


def test_data_above_the_agents_clearance_is_refused_with_the_reason(home, capsys):
    _classify_warehouse(home, "restricted")  # etl-architect-1 is cleared for confidential
    code = main(["materialize", "delays_by_carrier", "--home", str(home.root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert (
        "datacrew: specs/delays_by_carrier.yaml: sources[1]: 'warehouse/airlines': "
        "agent 'etl-architect-1' (clearance confidential) may not read restricted data"
    ) in err
    # Launched from Dagster, without `validate`, the run is refused before the crew starts.
    result = run_assets(home, "transformed/delays_by_carrier")
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "may not read restricted data" in failure.event_specific_data.user_failure_data.description
    assert not home.output_path(["transformed", "delays_by_carrier"]).exists()


def test_clearance_and_limits_shape_the_engine_and_are_recorded(home):
    _classify_warehouse(home, "confidential")
    spec = home.root / "specs" / "delays_by_carrier.yaml"
    spec.write_text(spec.read_text() + "classification: confidential\n")
    config = home.load_config()
    specs = home.load_specs(config)
    loaded = next(l for l in specs if l.spec.name == "delays_by_carrier")
    engine, context = governed_engine(home, config, specs, loaded, agent_id=loaded.spec.agent, file="x", run_id="r1", task_id="t1")
    assert engine.config == EngineConfig(memory_limit="2GB", threads=2, max_temp_directory_size="10GB")
    assert context.security_context == {"authority": "STAGE_COORDINATOR", "clearance": "confidential"}
    assert context.data_governance_rules["readable"] == {"lake/flights": "internal", "warehouse/airlines": "confidential"}
    assert context.quality_thresholds == {"completeness": 0.95, "consistency": 0.98, "accuracy": 0.97}

    result = run_assets(home, "transformed/delays_by_carrier")
    [event] = result.get_asset_materialization_events()
    recorded = event.materialization.metadata["datacrew/execution_context"].value
    assert recorded["agent_id"] == "etl-architect-1" and recorded["pipeline_id"] == result.run_id
    assert recorded["task_id"] == "transformed/delays_by_carrier"
    assert recorded["resource_limits"]["memory_limit"] == "2GB"


def test_a_lower_clearance_agent_does_not_even_see_the_source(home):
    _classify_warehouse(home, "restricted")
    config = home.load_config()
    specs = home.load_specs(config)
    loaded = next(l for l in specs if l.spec.name == "flights_clean")  # reads only lake/flights
    engine, _ = governed_engine(home, config, specs, loaded, agent_id=loaded.spec.agent, file="x", run_id="r", task_id="t")
    with pytest.raises(ConfigError, match="'warehouse/airlines': unknown source"):
        engine.inspect("warehouse/airlines")
    assert engine.inspect("lake/flights")["row_count"] == 336_776


def test_an_output_labelled_below_its_inputs_is_refused(home, capsys):
    _classify_warehouse(home, "confidential")
    spec = home.root / "specs" / "delays_by_carrier.yaml"
    spec.write_text(spec.read_text() + "classification: public\n")
    code = main(["validate", "--home", str(home.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert "specs/delays_by_carrier.yaml: sources[0]: 'lake/flights': reads internal data but classifies its output public" in err


def test_sql_proposals_cannot_replace_a_specs_rules(home):
    from datacrew_resources.workbench import EngineWorkbench

    config = home.load_config()
    specs = home.load_specs(config)
    loaded = next(l for l in specs if l.spec.name == "daily_summary")
    engine, _ = governed_engine(home, config, specs, loaded, agent_id=loaded.spec.agent, file="x", run_id="r", task_id="t")
    bench = EngineWorkbench(engine, loaded.spec, output_path=None, spec_file="x")
    with pytest.raises(ConfigError, match="SQL proposals are for intent-only specs"):
        bench.compile_sql('SELECT 1 AS flight_date FROM "transformed/flights_clean"')
