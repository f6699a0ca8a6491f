"""Spec parsing: every problem is one line naming file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacrew_resources.config import ConfigErrors, load_spec
from datacrew_resources.config.spec import FilterRule, JoinRule
from datacrew_resources.demo_home import TEMPLATE_DIR

VALID = """\
name: delays
type: aggregation
sources: [lake/flights, warehouse/airlines]
rules:
  - filter: dep_delay IS NOT NULL
  - join: {source: warehouse/airlines, on: [carrier], how: inner}
  - group_by: [carrier]
  - aggregate: {flights: count(*)}
target_schema:
  columns:
    - {name: carrier, type: VARCHAR, nullable: false, primary_key: true}
    - {name: flights, type: BIGINT, min: 0}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_spec(_write(tmp_path, text), display="specs/spec.yaml")
    return str(caught.value).splitlines()


def test_valid_spec_parses_typed_rules_and_yaml12_on_key(tmp_path):
    spec = load_spec(_write(tmp_path, VALID)).spec
    assert isinstance(spec.rules[0], FilterRule)
    assert isinstance(spec.rules[1], JoinRule)
    assert spec.rules[1].join.on == ["carrier"]  # `on:` is a key, not the boolean True
    assert spec.asset_key == ["transformed", "delays"]
    assert spec.target_schema.primary_key == ["carrier"]


def test_code_version_changes_with_the_spec(tmp_path):
    first = load_spec(_write(tmp_path, VALID)).spec.code_version
    second = load_spec(_write(tmp_path, VALID.replace("count(*)", "count(carrier)"))).spec.code_version
    assert first != second and len(first) == 16


@pytest.mark.parametrize(
    "change, expected",
    [
        (("type: aggregation", "type: magic"), "specs/spec.yaml: type: 'magic': Input should be"),
        (("- filter: dep_delay IS NOT NULL", "- pivot: [carrier]"), "specs/spec.yaml: rules[0]: {'pivot': ['carrier']}: a rule is a mapping"),
        (("sources: [lake/flights, warehouse/airlines]", "sources: [lake/flights]"), "specs/spec.yaml: rules: rule 1: join source 'warehouse/airlines' is not listed"),
        (("sources: [lake/flights, warehouse/airlines]", "sources: [flights, warehouse/airlines]"), "specs/spec.yaml: sources: "),
        (("min: 0", "min: zero"), "specs/spec.yaml: target_schema.columns[1].min: 'zero'"),
        (("how: inner", "how: sideways"), "specs/spec.yaml: rules[1].join.how: 'sideways'"),
        (("name: delays", "name: Delays-2"), "specs/spec.yaml: name: 'Delays-2': must be lowercase snake_case"),
        (("name: delays", "name: delays\nschedule: every morning"),
         "specs/spec.yaml: schedule: 'every morning': not a valid cron expression"),
    ],
)
def test_bad_specs_name_file_field_and_value(tmp_path, change, expected):
    errors = _errors(tmp_path, VALID.replace(*change))
    assert any(expected in line for line in errors), errors


def test_missing_field_and_invalid_yaml(tmp_path):
    assert _errors(tmp_path, VALID.replace("type: aggregation\n", "")) == ["specs/spec.yaml: type: Field required"]
    errors = _errors(tmp_path, "name: [unclosed\n")
    assert len(errors) == 1 and errors[0].startswith("specs/spec.yaml: line ") and "invalid YAML" in errors[0]


def test_duplicate_target_columns_and_bad_pattern(tmp_path):
    text = VALID.replace("{name: flights, type: BIGINT, min: 0}", "{name: carrier, type: VARCHAR, pattern: '['}")
    errors = _errors(tmp_path, text)
    assert any("pattern: '[': not a valid regular expression" in e for e in errors), errors
    twice = VALID.replace("{name: flights, type: BIGINT, min: 0}", "{name: carrier, type: VARCHAR}")
    assert _errors(tmp_path, twice) == ["specs/spec.yaml: target_schema.columns: columns declared twice: carrier"]


def test_demo_specs_are_valid():
    paths = sorted((TEMPLATE_DIR / "specs").glob("*.yaml"))
    assert len(paths) >= 5
    kinds = {load_spec(p).spec.type.value for p in paths}
    assert {"cleansing", "aggregation", "join", "enrichment"} <= kinds


@pytest.mark.parametrize(
    "partitions, expected",
    [
        ("{type: static, column: carrier, values: [AA, 'A A']}", "values must be letters, digits"),
        ("{type: time, column: carrier}", "time partitions need a start date"),
        ("{type: static, column: nowhere, values: [AA]}", "partitions.column 'nowhere' is not a target_schema column"),
    ],
)
def test_bad_partitions(tmp_path, partitions, expected):
    errors = _errors(tmp_path, VALID + f"partitions: {partitions}\n")
    assert any(expected in line for line in errors), errors


def test_intent_only_specs_cannot_be_partitioned(tmp_path):
    text = VALID.split("rules:")[0] + "intent: count flights per carrier\ntarget_schema:" + VALID.split("target_schema:")[1]
    assert load_spec(_write(tmp_path, text)).spec.rules == []
    errors = _errors(tmp_path, text + "partitions: {type: static, column: carrier, values: [AA]}\n")
    assert any("an intent-only spec cannot be partitioned" in line for line in errors), errors


def test_sla_and_quality_settings_override_the_platform(tmp_path):
    from datacrew_resources.config import QualityDefaults
    from datacrew_resources.config.quality import SlaDefaults
    from datacrew_resources.quality.sla import sla_limits
    from datacrew_resources.quality.thresholds import anomaly_settings

    text = VALID + (
        "quality: {blocking: [row_count_anomaly, accuracy], row_count_anomaly: {window: 8, max_z: 5}}\n"
        "sla: {max_latency_seconds: 60, freshness_hours: 24}\n"
    )
    spec = load_spec(_write(tmp_path, text)).spec
    assert spec.quality.blocking == ["row_count_anomaly", "accuracy"]
    settings = anomaly_settings(spec, QualityDefaults())
    assert (settings.window, settings.min_history, settings.max_z) == (8, 5, 5.0)
    limits = sla_limits(spec, SlaDefaults())
    assert limits.max_latency_seconds == 60.0 and limits.freshness_hours == 24.0
    assert limits.min_throughput_rows_per_second == 10_000 / 3600 and limits.max_error_rate == 0.001


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("sla: {max_latency_seconds: -5}", "specs/spec.yaml: sla.max_latency_seconds: -5: Input should be greater than 0"),
        ("sla: {max_error_rate: '0.1%'}", "specs/spec.yaml: sla.max_error_rate: '0.1%': Input should be a valid number"),
        ("sla: {min_throughput_rows_per_second: true}", "specs/spec.yaml: sla.min_throughput_rows_per_second: True: Input should be a valid number"),
        ("sla: {freshness_hours: 0}", "specs/spec.yaml: sla.freshness_hours: 0: Input should be greater than 0"),
        ("sla: {max_latncy_seconds: 5}", "specs/spec.yaml: sla.max_latncy_seconds: 5: Extra inputs are not permitted"),
        ("quality: {blocking: [freshness]}", "specs/spec.yaml: quality.blocking[0]: 'freshness': Input should be 'completeness'"),
        ("quality: {row_count_anomaly: {window: 0}}", "specs/spec.yaml: quality.row_count_anomaly.window: 0: Input should be greater than or equal to 1"),
        ("quality: {row_count_anomaly: {max_z: '3.5'}}", "specs/spec.yaml: quality.row_count_anomaly.max_z: '3.5': Input should be a valid number"),
    ],
)
def test_bad_sla_and_quality_settings(tmp_path, extra, expected):
    errors = _errors(tmp_path, VALID + extra + "\n")
    assert len(errors) == 1 and errors[0].startswith(expected), errors
