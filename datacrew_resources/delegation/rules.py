"""The tutorial's default delegation rule table, and rules compiled for evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datacrew_resources.config.platform import Authority, DelegationRuleConfig, PlatformConfig

from .conditions import Condition, parse_conditions, parse_limit

A = Authority

DEFAULT_RULES: tuple[DelegationRuleConfig, ...] = (
    DelegationRuleConfig(
        from_authority=A.DATA_ARCHITECT,
        to_authority=A.PIPELINE_MANAGER,
        task_types=["data_strategy", "architecture_design", "pipeline_optimization", "data_governance"],
        conditions={"data_complexity": ">= 0.8", "business_impact": "enterprise"},
        resource_limits={"cpu": 100, "memory": 500, "storage": 10000, "bandwidth": 1000},
        approval_required=False,
        escalation_path=["chief_data_officer"],
        data_governance_required=True,
        quality_validation_required=True,
    ),
    DelegationRuleConfig(
        from_authority=A.PIPELINE_MANAGER,
        to_authority=A.STAGE_COORDINATOR,
        task_types=["etl_orchestration", "data_quality_management", "pipeline_monitoring", "performance_tuning"],
        conditions={"pipeline_scope": True, "sla_deadline": "<= 24_hours"},
        resource_limits={"cpu": 50, "memory": 200, "storage": 5000, "bandwidth": 500},
        approval_required=True,
        escalation_path=["data_engineering_lead", "data_architect"],
        data_governance_required=True,
        quality_validation_required=True,
    ),
    DelegationRuleConfig(
        from_authority=A.STAGE_COORDINATOR,
        to_authority=A.PIPELINE_COLLABORATOR,
        task_types=["data_transformation", "data_validation", "schema_mapping", "data_profiling"],
        conditions={"stage_scope": True, "data_quality_threshold": ">= 0.85"},
        resource_limits={"cpu": 20, "memory": 100, "storage": 2000, "bandwidth": 200},
        approval_required=False,
        escalation_path=["pipeline_manager", "data_architect"],
        data_governance_required=True,
        quality_validation_required=True,
    ),
    DelegationRuleConfig(
        from_authority=A.PIPELINE_COLLABORATOR,
        to_authority=A.PIPELINE_COLLABORATOR,
        task_types=["code_review", "schema_consultation", "quality_validation", "troubleshooting"],
        conditions={"peer_level": True, "data_workload": "<= 0.8", "expertise_match": ">= 0.7"},
        resource_limits={"cpu": 5, "memory": 20, "time": "2_hours"},
        approval_required=False,
        escalation_path=["stage_coordinator"],
        data_governance_required=False,
        quality_validation_required=False,
    ),
)

# The tutorial's escalation when no rule applies at all.
NO_RULE_ESCALATION: tuple[str, ...] = ("stage_coordinator", "pipeline_manager")


def effective_rules(config: PlatformConfig) -> tuple[DelegationRuleConfig, ...]:
    """The configured rules, or the tutorial's table when none are configured."""
    return tuple(config.delegation_rules) or DEFAULT_RULES


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its conditions and limits parsed; `index` is its position in the rule list."""

    index: int
    config: DelegationRuleConfig
    conditions: tuple[Condition, ...]
    limits: dict[str, float]

    def describe(self) -> str:
        c = self.config
        return f"rule {self.index} ({c.from_authority.name} -> {c.to_authority.name})"

    def covers(self, source: Authority, target: Authority, task_type: str) -> bool:
        c = self.config
        return c.from_authority == source and c.to_authority == target and task_type in c.task_types


def compile_rules(rules: Sequence[DelegationRuleConfig]) -> tuple[CompiledRule, ...]:
    """Parse every rule's conditions and limits; the first malformed one raises a ConfigError
    naming `delegation_rules[i].conditions.<key>` (or `.resource_limits.<key>`)."""
    compiled = []
    for i, rule in enumerate(rules):
        where = f"delegation_rules[{i}]"
        conditions = parse_conditions(rule.conditions, where=f"{where}.conditions")
        limits = {key: parse_limit(key, raw, where=f"{where}.resource_limits")
                  for key, raw in rule.resource_limits.items()}
        compiled.append(CompiledRule(i, rule, conditions, limits))
    return tuple(compiled)


__all__ = ["DEFAULT_RULES", "NO_RULE_ESCALATION", "CompiledRule", "compile_rules", "effective_rules"]
