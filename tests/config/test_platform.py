"""datacrew.yaml parsing and the home layout."""

from __future__ import annotations

import pytest

from datacrew_resources.config import Authority, ConfigErrors, Home
from datacrew_resources.demo_home import install_templates


def test_demo_config_loads_with_tutorial_defaults(tmp_path):
    home = Home(tmp_path)
    install_templates(home)
    config = home.load_config()
    assert [s.name for s in config.sources] == ["lake", "warehouse", "share", "landing"]
    assert config.quality.completeness == 0.95 and config.quality.consistency == 0.98 and config.quality.accuracy == 0.97
    assert config.slas.max_latency_seconds == 300 and config.slas.max_error_rate == 0.001
    assert config.slas.min_throughput_rows_per_second == 10_000 / 3600 and config.slas.freshness_hours is None
    anomaly = config.quality.row_count_anomaly
    assert (anomaly.window, anomaly.min_history, anomaly.max_z) == (20, 5, 3.5)
    agents = {a.id: a for a in config.agents}
    assert agents["etl-architect-1"].authority is Authority.STAGE_COORDINATOR
    assert len(home.load_specs(config)) == 7


def test_install_templates_keeps_user_edits(tmp_path):
    home = Home(tmp_path)
    install_templates(home)
    home.config_path.write_text(home.config_path.read_text().replace("4GB", "2GB"))
    assert install_templates(home) == []
    assert "2GB" in home.config_path.read_text()


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("sources: [{name: lake, type: lakehouse, uri: x}]", "datacrew.yaml: sources[0].type: 'lakehouse'"),
        ("sources: [{name: lake, type: data_lake, uri: ../../etc}]", "datacrew.yaml: sources[0].uri: '../../etc': must not contain '..'"),
        ("sources: [{name: lake, type: data_lake, uri: ~/data}]", "datacrew.yaml: sources[0].uri: '~/data'"),
        ("agents: [{id: a, authority: emperor}]", "datacrew.yaml: agents[0].authority: 'emperor': unknown authority"),
        ("quality: {completeness: 1.5}", "datacrew.yaml: quality.completeness: 1.5"),
        ("slas: {max_latency_seconds: -1}", "datacrew.yaml: slas.max_latency_seconds: -1: Input should be greater than 0"),
        ("slas: {max_error_rate: 2}", "datacrew.yaml: slas.max_error_rate: 2: Input should be less than or equal to 1"),
        ("slas: {min_throughput_rows_per_second: fast}", "datacrew.yaml: slas.min_throughput_rows_per_second: 'fast': Input should be a valid number"),
        ("slas: {freshness_hours: -3}", "datacrew.yaml: slas.freshness_hours: -3: Input should be greater than 0"),
        ("quality: {row_count_anomaly: {min_history: two}}", "datacrew.yaml: quality.row_count_anomaly.min_history: 'two': Input should be a valid integer"),
        ("engine: {memory_limit: lots}", "datacrew.yaml: engine.memory_limit: 'lots'"),
        ("surprise: 1", "datacrew.yaml: surprise: 1: Extra inputs are not permitted"),
        ("sources: [{name: a, type: data_lake, uri: x}, {name: a, type: data_lake, uri: y}]", "datacrew.yaml: sources: names must be unique: a repeat"),
    ],
)
def test_bad_config_lines(tmp_path, yaml_text, expected):
    (tmp_path / "datacrew.yaml").write_text(yaml_text)
    with pytest.raises(ConfigErrors) as caught:
        Home(tmp_path).load_config()
    assert any(expected in line for line in str(caught.value).splitlines()), str(caught.value)


def test_missing_home_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigErrors, match="run `datacrew demo`"):
        Home(tmp_path / "nowhere").load_config()


def test_duplicate_spec_names_are_reported(tmp_path):
    home = Home(tmp_path)
    install_templates(home)
    clean = home.root / "specs" / "flights_clean.yaml"
    (home.root / "specs" / "copy.yaml").write_text(clean.read_text())
    with pytest.raises(ConfigErrors, match="specs/flights_clean.yaml: name: 'flights_clean': duplicate transformation"):
        home.load_specs(home.load_config())
