"""Every branch of the delegation policy, with exact decisions and reasons."""

from __future__ import annotations

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import AgentConfig, DelegationRuleConfig
from datacrew_resources.delegation import DEFAULT_RULES, compile_rules
from datacrew_resources.delegation.policy import (
    Alternative,
    Decision,
    DelegationRequest,
    evaluate,
)

ROSTER = [
    AgentConfig(id="arch", authority="DATA_ARCHITECT"),
    AgentConfig(id="mgr", authority="PIPELINE_MANAGER", clearance="confidential"),
    AgentConfig(id="coord", authority="STAGE_COORDINATOR"),
    AgentConfig(id="collab_a", authority="PIPELINE_COLLABORATOR", capacity=2,
                specializations={"data_transformation": 0.9}),
    AgentConfig(id="collab_b", authority="PIPELINE_COLLABORATOR", capacity=5,
                specializations={"data_transformation": 0.5, "code_review": 0.8, "troubleshooting": 0.8}),
    AgentConfig(id="collab_c", authority="PIPELINE_COLLABORATOR", capacity=3,
                specializations={"data_transformation": 0.9}),
    AgentConfig(id="collab_d", authority="PIPELINE_COLLABORATOR", capacity=4),
    AgentConfig(id="collab_e", authority="PIPELINE_COLLABORATOR", capacity=3, clearance="public",
                specializations={"data_transformation": 0.95}),
    AgentConfig(id="collab_f", authority="PIPELINE_COLLABORATOR", capacity=5,
                specializations={"data_transformation": 0.5}),
    AgentConfig(id="collab_full", authority="PIPELINE_COLLABORATOR", capacity=1,
                specializations={"data_transformation": 1.0}),
]

ARCH_FACTS = {"data_complexity": 0.9, "business_impact": "enterprise"}
MGR_FACTS = {"pipeline_scope": True, "sla_deadline_hours": 12}
COORD_FACTS = {"stage_scope": True, "data_quality_threshold": 0.9}
PEER_FACTS = {"peer_level": True, "data_workload": 0.5, "expertise_match": 0.8}

R0 = "rule 0 (DATA_ARCHITECT -> PIPELINE_MANAGER)"
R1 = "rule 1 (PIPELINE_MANAGER -> STAGE_COORDINATOR)"
R2 = "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR)"
R3 = "rule 3 (PIPELINE_COLLABORATOR -> PIPELINE_COLLABORATOR)"


def decide(requester, target, task, facts=None, resources=None, classifications=(), workload=None,
           rules=DEFAULT_RULES, roster=ROSTER) -> Decision:
    request = DelegationRequest(requester, target, task, facts or {}, resources or {}, tuple(classifications))
    return evaluate(request, roster=roster, rules=rules, workload=workload or {})


def test_architect_to_manager_allowed():
    d = decide("arch", "mgr", "data_strategy", ARCH_FACTS, {"cpu": 10, "storage": 10000}, ["confidential"],
               workload={"mgr": 3})
    assert d == Decision("allowed", 0, R0, (
        "agents known: arch (DATA_ARCHITECT) -> mgr (PIPELINE_MANAGER)",
        f"{R0} covers task type 'data_strategy'",
        "condition data_complexity >= 0.8 holds (0.9)",
        "condition business_impact == enterprise holds ('enterprise')",
        "resource cpu 10 within limit 100",
        "resource storage 10000 within limit 10000",
        "target mgr has spare capacity 7 (3 tasks of 10)",
        "governance: mgr clearance confidential covers confidential",
    ))
    assert d.allowed


def test_manager_to_coordinator_awaits_approval():
    d = decide("mgr", "coord", "etl_orchestration", MGR_FACTS, {"memory": 200}, ["internal"])
    assert d == Decision("awaiting_approval", 1, R1, (
        "agents known: mgr (PIPELINE_MANAGER) -> coord (STAGE_COORDINATOR)",
        f"{R1} covers task type 'etl_orchestration'",
        "condition pipeline_scope == True holds (True)",
        "condition sla_deadline <= 24_hours holds (43200)",
        "resource memory 200 within limit 200",
        "target coord has spare capacity 10 (0 tasks of 10)",
        "governance: coord clearance internal covers internal",
        "approval required by the rule",
    ), ("data_engineering_lead", "data_architect"))
    assert not d.allowed


def test_coordinator_to_collaborator_allowed():
    d = decide("coord", "collab_a", "data_transformation", COORD_FACTS, {"cpu": 20}, ["public", "internal"],
               workload={"collab_a": 1})
    assert d == Decision("allowed", 2, R2, (
        "agents known: coord (STAGE_COORDINATOR) -> collab_a (PIPELINE_COLLABORATOR)",
        f"{R2} covers task type 'data_transformation'",
        "condition stage_scope == True holds (True)",
        "condition data_quality_threshold >= 0.85 holds (0.9)",
        "resource cpu 20 within limit 20",
        "target collab_a has spare capacity 1 (1 tasks of 2)",
        "governance: collab_a clearance internal covers public, internal",
    ))


def test_peer_collaboration_allowed_without_governance():
    d = decide("collab_a", "collab_b", "code_review", PEER_FACTS, {"time": "90_minutes"}, ["restricted"])
    assert d == Decision("allowed", 3, R3, (
        "agents known: collab_a (PIPELINE_COLLABORATOR) -> collab_b (PIPELINE_COLLABORATOR)",
        f"{R3} covers task type 'code_review'",
        "condition peer_level == True holds (True)",
        "condition data_workload <= 0.8 holds (0)",
        "condition expertise_match >= 0.7 holds (0.8)",
        "resource time '90_minutes' within limit '2_hours'",
        "target collab_b has spare capacity 5 (0 tasks of 5)",
        "governance not required by the rule",
    ))


def test_unknown_agents_denied():
    d = decide("ghost", "phantom", "data_strategy")
    assert d == Decision("denied", None, "", ("unknown agent: requester 'ghost', target 'phantom'",))


def test_self_delegation_denied():
    d = decide("collab_a", "collab_a", "code_review", PEER_FACTS)
    assert d == Decision("denied", None, "", ("collab_a cannot delegate to itself",))


def test_wrong_task_type_escalates_along_the_no_rule_path():
    d = decide("arch", "mgr", "code_review", ARCH_FACTS)
    assert d == Decision("escalated", None, "", (
        "agents known: arch (DATA_ARCHITECT) -> mgr (PIPELINE_MANAGER)",
        f"{R0} does not cover task type 'code_review' (covers data_strategy, architecture_design, "
        "pipeline_optimization, data_governance)",
    ), ("stage_coordinator", "pipeline_manager"))


def test_no_rule_between_authorities_escalates():
    d = decide("arch", "collab_a", "data_transformation")
    assert d.status == "escalated"
    assert d.reasons[-1] == "no rule delegates from DATA_ARCHITECT to PIPELINE_COLLABORATOR"
    assert d.escalation_path == ("stage_coordinator", "pipeline_manager")


def test_failing_condition_escalates_along_the_rule_path():
    d = decide("arch", "mgr", "data_strategy", {"data_complexity": 0.5, "business_impact": "team"})
    assert d == Decision("escalated", 0, R0, (
        "agents known: arch (DATA_ARCHITECT) -> mgr (PIPELINE_MANAGER)",
        f"{R0} covers task type 'data_strategy'",
        "condition data_complexity >= 0.8 fails (0.5)",
        "condition business_impact == enterprise fails ('team')",
    ), ("chief_data_officer",))


def test_sla_over_a_day_fails():
    d = decide("mgr", "coord", "pipeline_monitoring", {"pipeline_scope": True, "sla_deadline": "2_days"})
    assert d.status == "escalated"
    assert d.reasons[2:] == (
        "condition pipeline_scope == True holds (True)",
        "condition sla_deadline <= 24_hours fails ('2_days')",
    )
    assert d.escalation_path == ("data_engineering_lead", "data_architect")


def test_missing_fact_is_a_failed_condition():
    d = decide("coord", "collab_a", "data_profiling", {"stage_scope": True})
    assert d == Decision("escalated", 2, R2, (
        "agents known: coord (STAGE_COORDINATOR) -> collab_a (PIPELINE_COLLABORATOR)",
        f"{R2} covers task type 'data_profiling'",
        "condition stage_scope == True holds (True)",
        "condition data_quality_threshold >= 0.85 fails: fact 'data_quality_threshold' missing",
    ), ("pipeline_manager", "data_architect"))


def test_resource_over_limit_escalates():
    d = decide("arch", "mgr", "architecture_design", ARCH_FACTS, {"cpu": 50, "memory": 501})
    assert d == Decision("escalated", 0, R0, (
        "agents known: arch (DATA_ARCHITECT) -> mgr (PIPELINE_MANAGER)",
        f"{R0} covers task type 'architecture_design'",
        "condition data_complexity >= 0.8 holds (0.9)",
        "condition business_impact == enterprise holds ('enterprise')",
        "resource cpu 50 within limit 100",
        "resource memory 501 exceeds limit 500",
    ), ("chief_data_officer",))


@pytest.mark.parametrize(
    ("resources", "reason"),
    [
        ({"time": "3_hours"}, "resource time '3_hours' exceeds limit '2_hours'"),
        ({"storage": 1}, "resource storage 1 is not granted by the rule (it limits cpu, memory, time)"),
        ({"cpu": "lots"}, "resource cpu 'lots' is not a number or duration"),
    ],
)
def test_peer_resource_refusals(resources, reason):
    d = decide("collab_a", "collab_b", "troubleshooting", PEER_FACTS, resources)
    assert (d.status, d.reasons[-1], d.escalation_path) == ("escalated", reason, ("stage_coordinator",))


def test_overloaded_target_defers_with_ranked_alternatives():
    workload = {"collab_a": 2, "collab_c": 1, "collab_full": 1}
    d = decide("coord", "collab_a", "data_transformation", COORD_FACTS, {"cpu": 1}, ["internal"], workload)
    assert d == Decision("deferred", 2, R2, (
        "agents known: coord (STAGE_COORDINATOR) -> collab_a (PIPELINE_COLLABORATOR)",
        f"{R2} covers task type 'data_transformation'",
        "condition stage_scope == True holds (True)",
        "condition data_quality_threshold >= 0.85 holds (0.9)",
        "resource cpu 1 within limit 20",
        "target collab_a overloaded: 2 tasks of capacity 2",
    ), (), (
        # best match first, then most spare capacity, then id; collab_e lacks clearance for
        # internal data, collab_full has no spare capacity.
        Alternative("collab_c", 0.9, 2),
        Alternative("collab_b", 0.5, 5),
        Alternative("collab_f", 0.5, 5),
        Alternative("collab_d", 0.0, 4),
    ))


def test_overloaded_peer_alternatives_skip_requester_and_ignore_clearance():
    workload = {"collab_b": 5, "collab_c": 3, "collab_d": 4, "collab_f": 5, "collab_full": 1}
    d = decide("collab_a", "collab_b", "data_transformation", PEER_FACTS, classifications=["internal"],
               workload=workload, rules=[DelegationRuleConfig(
                   from_authority="PIPELINE_COLLABORATOR", to_authority="PIPELINE_COLLABORATOR",
                   task_types=["data_transformation"], data_governance_required=False)])
    assert d.status == "deferred"
    assert d.alternatives == (Alternative("collab_e", 0.95, 3),)
    assert d.escalation_path == ()


def test_governance_refusal():
    d = decide("coord", "collab_a", "schema_mapping", COORD_FACTS, {}, ["internal", "confidential", "restricted"])
    assert d == Decision("denied", 2, R2, (
        "agents known: coord (STAGE_COORDINATOR) -> collab_a (PIPELINE_COLLABORATOR)",
        f"{R2} covers task type 'schema_mapping'",
        "condition stage_scope == True holds (True)",
        "condition data_quality_threshold >= 0.85 holds (0.9)",
        "target collab_a has spare capacity 2 (0 tasks of 2)",
        "governance: collab_a clearance internal does not cover confidential, restricted",
    ))


def test_unknown_classification_refused():
    d = decide("coord", "collab_a", "schema_mapping", COORD_FACTS, {}, ["secret"])
    assert (d.status, d.reasons[-1]) == ("denied", "governance: unknown classification 'secret'")


def test_first_applicable_rule_wins_and_compiled_rules_accepted():
    strict = DelegationRuleConfig(from_authority="DATA_ARCHITECT", to_authority="PIPELINE_MANAGER",
                                  task_types=["data_strategy"], conditions={"data_complexity": "> 0.95"},
                                  escalation_path=["cdo"])
    compiled = compile_rules([strict, *DEFAULT_RULES])
    d = decide("arch", "mgr", "data_strategy", ARCH_FACTS, rules=compiled)
    assert (d.status, d.rule, d.rule_description, d.escalation_path) == (
        "escalated", 0, "rule 0 (DATA_ARCHITECT -> PIPELINE_MANAGER)", ("cdo",))
    assert d.reasons[-1] == "condition data_complexity > 0.95 fails (0.9)"


def test_malformed_rule_raises_before_deciding():
    bad = DelegationRuleConfig(from_authority="DATA_ARCHITECT", to_authority="PIPELINE_MANAGER",
                               task_types=["data_strategy"], conditions={"data_complexity": ">= ~0.8"})
    with pytest.raises(ConfigError, match=r"^delegation_rules\[0\]\.conditions\.data_complexity: '>= ~0.8': "):
        decide("arch", "mgr", "data_strategy", ARCH_FACTS, rules=[bad])


def test_roster_may_be_a_mapping():
    d = evaluate(DelegationRequest("collab_a", "collab_b", "code_review", PEER_FACTS),
                 roster={a.id: a for a in ROSTER}, rules=DEFAULT_RULES, workload={})
    assert d.status == "allowed"


def test_derived_facts_replace_what_the_requester_claims():
    # collab_b carries 5 of 5 tasks: the requester's "data_workload: 0.5" is ignored, and a
    # target too loaded for the peer rule waits (with alternatives), it does not escalate.
    d = decide("collab_a", "collab_b", "code_review", PEER_FACTS, workload={"collab_b": 5})
    assert (d.status, d.escalation_path) == ("deferred", ())
    assert d.reasons[3] == "condition data_workload <= 0.8 fails (1)"
    assert d.reasons[-1] == f"target collab_b too loaded for {R3}"
    d = decide("collab_a", "collab_d", "code_review", {**PEER_FACTS, "expertise_match": 1.0})
    assert "condition expertise_match >= 0.7 fails (0)" in d.reasons
    assert d.status == "escalated"


def test_escalated_approval_overrides_rule_checks_not_capacity_or_governance():
    from datacrew_resources.delegation.policy import Approval

    request = DelegationRequest("arch", "collab_a", "data_transformation", {}, {}, ("internal",))
    d = evaluate(request, roster=ROSTER, rules=DEFAULT_RULES, workload={}, approval=Approval("dana", escalated=True))
    assert d.status == "allowed"
    assert d.reasons[1] == ("no rule delegates from DATA_ARCHITECT to PIPELINE_COLLABORATOR; "
                            "overridden by dana on escalation")
    assert d.reasons[-1] == "approved by dana"
    full = evaluate(request, roster=ROSTER, rules=DEFAULT_RULES, workload={"collab_a": 2},
                    approval=Approval("dana", escalated=True))
    assert full.status == "deferred"
    secret = DelegationRequest("arch", "collab_a", "data_transformation", {}, {}, ("restricted",))
    refused = evaluate(secret, roster=ROSTER, rules=DEFAULT_RULES, workload={},
                       approval=Approval("dana", escalated=True))
    assert (refused.status, refused.reasons[-1]) == (
        "denied", "governance: collab_a clearance internal does not cover restricted")


def test_approval_satisfies_approval_required():
    from datacrew_resources.delegation.policy import Approval

    request = DelegationRequest("mgr", "coord", "etl_orchestration", MGR_FACTS, {}, ("internal",))
    d = evaluate(request, roster=ROSTER, rules=DEFAULT_RULES, workload={}, approval=Approval("dana"))
    assert (d.status, d.rule, d.reasons[-1]) == ("allowed", 1, "approved by dana")


def test_escalation_with_no_path_is_a_denial():
    rule = DelegationRuleConfig(from_authority="DATA_ARCHITECT", to_authority="PIPELINE_MANAGER",
                                task_types=["data_strategy"], conditions={"data_complexity": ">= 0.8"})
    d = decide("arch", "mgr", "data_strategy", {"data_complexity": 0.1}, rules=[rule])
    assert (d.status, d.escalation_path) == ("denied", ())
