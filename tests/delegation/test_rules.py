"""The tutorial's default rule table and the effective rules."""

from __future__ import annotations

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import Authority as A
from datacrew_resources.config.platform import DelegationRuleConfig, PlatformConfig
from datacrew_resources.delegation.rules import DEFAULT_RULES, compile_rules, effective_rules


def test_default_table_is_the_tutorials():
    got = [r.model_dump() for r in DEFAULT_RULES]
    assert got == [
        dict(from_authority=A.DATA_ARCHITECT, to_authority=A.PIPELINE_MANAGER,
             task_types=["data_strategy", "architecture_design", "pipeline_optimization", "data_governance"],
             conditions={"data_complexity": ">= 0.8", "business_impact": "enterprise"},
             resource_limits={"cpu": 100, "memory": 500, "storage": 10000, "bandwidth": 1000},
             approval_required=False, escalation_path=["chief_data_officer"],
             data_governance_required=True, quality_validation_required=True),
        dict(from_authority=A.PIPELINE_MANAGER, to_authority=A.STAGE_COORDINATOR,
             task_types=["etl_orchestration", "data_quality_management", "pipeline_monitoring", "performance_tuning"],
             conditions={"pipeline_scope": True, "sla_deadline": "<= 24_hours"},
             resource_limits={"cpu": 50, "memory": 200, "storage": 5000, "bandwidth": 500},
             approval_required=True, escalation_path=["data_engineering_lead", "data_architect"],
             data_governance_required=True, quality_validation_required=True),
        dict(from_authority=A.STAGE_COORDINATOR, to_authority=A.PIPELINE_COLLABORATOR,
             task_types=["data_transformation", "data_validation", "schema_mapping", "data_profiling"],
             conditions={"stage_scope": True, "data_quality_threshold": ">= 0.85"},
             resource_limits={"cpu": 20, "memory": 100, "storage": 2000, "bandwidth": 200},
             approval_required=False, escalation_path=["pipeline_manager", "data_architect"],
             data_governance_required=True, quality_validation_required=True),
        dict(from_authority=A.PIPELINE_COLLABORATOR, to_authority=A.PIPELINE_COLLABORATOR,
             task_types=["code_review", "schema_consultation", "quality_validation", "troubleshooting"],
             conditions={"peer_level": True, "data_workload": "<= 0.8", "expertise_match": ">= 0.7"},
             resource_limits={"cpu": 5, "memory": 20, "time": "2_hours"},
             approval_required=False, escalation_path=["stage_coordinator"],
             data_governance_required=False, quality_validation_required=False),
    ]


def test_effective_rules_defaults_when_none_configured():
    assert effective_rules(PlatformConfig()) == DEFAULT_RULES


def test_effective_rules_configured_replace_defaults():
    rule = DelegationRuleConfig(from_authority="stage_coordinator", to_authority="data_processor",
                                task_types=["etl"])
    assert effective_rules(PlatformConfig(delegation_rules=[rule])) == (rule,)


def test_compile_defaults():
    compiled = compile_rules(DEFAULT_RULES)
    assert [r.describe() for r in compiled] == [
        "rule 0 (DATA_ARCHITECT -> PIPELINE_MANAGER)",
        "rule 1 (PIPELINE_MANAGER -> STAGE_COORDINATOR)",
        "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR)",
        "rule 3 (PIPELINE_COLLABORATOR -> PIPELINE_COLLABORATOR)",
    ]
    assert compiled[3].limits == {"cpu": 5.0, "memory": 20.0, "time": 7200.0}
    assert [c.describe() for c in compiled[1].conditions] == ["pipeline_scope == True", "sla_deadline <= 24_hours"]


def test_compile_names_rule_and_key_of_a_malformed_condition():
    bad = DelegationRuleConfig(from_authority=A.STAGE_COORDINATOR, to_authority=A.DATA_PROCESSOR,
                               task_types=["etl"], conditions={"data_complexity": ">= very"})
    with pytest.raises(ConfigError) as info:
        compile_rules([*DEFAULT_RULES, bad])
    assert str(info.value) == (
        "delegation_rules[4].conditions.data_complexity: '>= very': "
        "'very' is not a number or duration (e.g. 0.8, 3, 24_hours)"
    )


def test_compile_names_rule_and_key_of_a_malformed_limit():
    bad = DelegationRuleConfig(from_authority=A.STAGE_COORDINATOR, to_authority=A.DATA_PROCESSOR,
                               task_types=["etl"], resource_limits={"cpu": "many"})
    with pytest.raises(ConfigError) as info:
        compile_rules([bad])
    assert str(info.value) == (
        "delegation_rules[0].resource_limits.cpu: 'many': "
        "a resource limit must be a number or a duration such as '2_hours'"
    )
