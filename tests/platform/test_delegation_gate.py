"""The delegation gate sensor over a real demo home: launches, denials, approvals, the ledger."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from datacrew_assets.definitions import build_definitions
from datacrew_resources.config import ConfigError
from datacrew_resources.delegation.audit import AuditLog
from datacrew_resources.delegation.gate import RunInfo, gate_tick
from datacrew_resources.delegation.states import Change
from datacrew_resources.delegation.service import Delegation

from .delegation_helpers import edit_config, set_agent, submit_coordinated, tick


@pytest.fixture
def instance(home):
    with dg.instance_for_test(temp_dir=str(home.dagster_home)) as instance:
        yield instance


def audit(home, request_id):
    store = Delegation(home).store
    return [(e.status, e.actor) for e in AuditLog(store.location, backend=store.backend).entries(request_id)]


def test_allowed_request_launches_once_runs_as_the_target_and_is_reconciled(home, instance):
    request = submit_coordinated(home)
    result = tick(home, instance)
    assert [(r.run_key, r.job_name) for r in result.run_requests] == [(request.id, "task_data_validation")]
    tags = result.run_requests[0].tags
    assert tags["datacrew/requester"] == "etl-architect-1"
    assert tags["datacrew/agent"] == "etl-developer-1"
    assert tags["datacrew/rule"] == "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR)"
    stored = Delegation(home).store.require(request.id)
    assert (stored.state, stored.attempts) == ("launched", 1)
    assert stored.decision["status"] == "allowed"
    assert "condition data_quality_threshold >= 0.85 holds (0.95)" in stored.decision["reasons"]

    # The run never reached the instance (the tick "died"): the same run key is asked again.
    again = tick(home, instance, result.cursor)
    assert [r.run_key for r in again.run_requests] == [request.id]
    assert Delegation(home).store.require(request.id).attempts == 2  # counted, and capped

    # The daemon would launch it; here the job runs in process with the sensor's tags.
    job = build_definitions(home).resolve_job_def("task_data_validation")
    run = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert run.success
    event = instance.get_latest_materialization_event(dg.AssetKey(["transformed", "flights_clean"]))
    materialization = event.asset_materialization
    assert materialization.metadata["datacrew/agent"].value == "etl-developer-1"
    assert materialization.metadata["datacrew/request"].value == request.id

    # Reconciliation finds the finished run: no repeat, the request succeeded, capacity is free.
    after = tick(home, instance)
    assert after.run_requests == []
    stored = Delegation(home).store.require(request.id)
    assert (stored.state, stored.run_id) == ("succeeded", run.run_id)
    assert Delegation(home).workload() == {}
    assert audit(home, request.id) == [("allowed", "gate"), ("launched", "ledger"), ("running", "ledger"),
                                       ("succeeded", "ledger")]


def test_a_run_tag_alone_does_not_make_a_run_delegated(home, instance):
    job = build_definitions(home).resolve_job_def("task_data_validation")
    run = job.execute_in_process(instance=instance, tags={"datacrew/request": "forged"}, raise_on_error=False)
    assert not run.success
    failure = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "run tag datacrew/request: 'forged': unknown delegation request" in failure.event_specific_data.error.message


def test_failing_condition_escalates_and_an_approver_on_the_path_releases_it(home, instance):
    request = submit_coordinated(home, facts={"stage_scope": True, "data_quality_threshold": 0.5})
    result = tick(home, instance)
    assert result.run_requests == []
    stored = Delegation(home).store.require(request.id)
    assert stored.state == "escalated"
    assert stored.decision["escalation_path"] == ["pipeline_manager", "data_architect"]
    assert stored.decision["reasons"][-1] == "condition data_quality_threshold >= 0.85 fails (0.5)"

    with pytest.raises(ConfigError, match=r"^by: 'mallory': unknown approver \(approvers: ari, dana\)$"):
        Delegation(home).approve(request.id, "mallory")
    assert Delegation(home).store.require(request.id).state == "escalated"

    approved = Delegation(home).approve(request.id, "dana")
    assert (approved.state, approved.approved_by) == ("approved", "dana")
    launched = tick(home, instance)
    assert [r.run_key for r in launched.run_requests] == [request.id]
    assert launched.run_requests[0].tags["datacrew/rule"] == "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR)"
    reasons = Delegation(home).store.require(request.id).decision["reasons"]
    assert "overridden by dana on escalation" in reasons
    assert audit(home, request.id) == [("escalated", "gate"), ("approved_on_escalation", "dana"), ("allowed", "gate")]


def test_approval_required_rule_waits_then_rejection_is_final(home, instance):
    delegation = Delegation(home)
    request = delegation.submit(requester="orchestrator-1", target="etl-architect-1", task_type="etl_orchestration",
                                facts={"pipeline_scope": True, "sla_deadline": "6_hours"}, resources={"cpu": 10})
    assert tick(home, instance).run_requests == []
    assert delegation.store.require(request.id).state == "awaiting_approval"
    rejected = delegation.reject(request.id, "dana", "not before the freeze ends")
    assert rejected.state == "rejected"
    assert tick(home, instance).run_requests == []
    with pytest.raises(ConfigError, match="is rejected, not awaiting approval"):
        delegation.approve(request.id, "dana")


def test_no_rule_escalates_to_the_tutorials_path_and_only_its_roles_may_decide(home, instance):
    delegation = Delegation(home)
    request = delegation.submit(requester="chief-architect", target="etl-developer-1", task_type="data_validation")
    assert tick(home, instance).run_requests == []
    stored = delegation.store.require(request.id)
    assert stored.state == "escalated"
    assert stored.decision["reasons"][-1] == "no rule delegates from DATA_ARCHITECT to PIPELINE_COLLABORATOR"
    with pytest.raises(ConfigError, match=r"^by: 'ari': ari holds none of the roles on the escalation path "
                                          r"\(stage_coordinator, pipeline_manager\)$"):
        delegation.approve(request.id, "ari")
    assert delegation.store.require(request.id).state == "escalated"
    assert delegation.approve(request.id, "dana").state == "approved"


def test_overloaded_target_defers_with_alternatives_and_launches_when_capacity_frees(home, instance):
    set_agent(home, "etl-developer-1", capacity=1)
    first, second = submit_coordinated(home), submit_coordinated(home)
    result = tick(home, instance)
    assert [r.run_key for r in result.run_requests] == [first.id]
    waiting = Delegation(home).store.require(second.id)
    assert waiting.state == "pending"
    assert waiting.decision["status"] == "deferred"
    # quality-validator-1 specialises in data_validation (1.3); the other has no bonus.
    assert waiting.decision["alternatives"] == [
        {"agent_id": "quality-validator-1", "match": 1.3, "spare": 6},
        {"agent_id": "discovery-specialist-1", "match": 0.0, "spare": 6}]
    # A second tick does not write the same deferral again.
    tick(home, instance)
    assert [s for s, _ in audit(home, second.id)] == ["deferred"]


def test_governance_denies_data_above_the_targets_clearance(home, instance):
    set_agent(home, "etl-developer-1", clearance="public")
    request = submit_coordinated(home)
    assert tick(home, instance).run_requests == []
    stored = Delegation(home).store.require(request.id)
    assert stored.state == "denied"
    assert stored.decision["reasons"][-1] == "governance: etl-developer-1 clearance public does not cover internal"


def test_batches_and_cursor_carry_a_backlog_across_ticks(home):
    set_agent(home, "etl-developer-1", capacity=100)
    edit_config(home, gate={"batch_size": 2, "max_runs_per_tick": 3})
    ids = [submit_coordinated(home).id for _ in range(7)]
    created: dict[str, RunInfo] = {}  # the daemon: a run per delivered run key

    def lookup(request_ids):
        return {i: [created[i]] for i in request_ids if i in created}

    cursor, per_tick = None, []
    for _ in range(3):
        outcome = gate_tick(Delegation(home), cursor=cursor, runs=lookup)
        per_tick.append([l.request.id for l in outcome.launches])
        created.update({l.request.id: RunInfo("run-" + l.request.id, "STARTED", l.request.id) for l in outcome.launches})
        cursor = outcome.cursor
    assert [len(t) for t in per_tick] == [3, 3, 1]
    assert cursor is None
    # Queue order is priority, then submission time: the backlog is launched oldest first.
    assert [i for t in per_tick for i in t] == ids


def test_bad_submissions_store_nothing(home):
    delegation = Delegation(home)
    with pytest.raises(ConfigError, match=r"^target: 'ghost': unknown agent \(roster: "):
        delegation.submit(requester="etl-architect-1", target="ghost", task_type="data_validation")
    with pytest.raises(ConfigError, match=r"^task_type: 'world_domination': unknown task type \(known: "):
        delegation.submit(requester="etl-architect-1", target="etl-developer-1", task_type="world_domination")
    with pytest.raises(ConfigError, match=r"^priority: 'urgent': unknown priority"):
        delegation.submit(requester="etl-architect-1", target="etl-developer-1", task_type="data_validation",
                          priority="urgent")
    assert delegation.store.list() == []


def test_schedule_submits_once_per_tick_and_never_launches_itself(home, instance):
    defs = build_definitions(home)
    schedule = defs.resolve_schedule_def("nightly_transformations")
    when = dg.build_schedule_context(instance=instance,
                                     scheduled_execution_time=datetime(2026, 11, 24, 5, tzinfo=timezone.utc))
    first = schedule.evaluate_tick(when)
    second = schedule.evaluate_tick(when)
    assert first.run_requests == [] and second.run_requests == []
    stored = Delegation(home).store.list()
    assert len(stored) == 1
    assert (stored[0].requester, stored[0].target, stored[0].task_type) == (
        "etl-architect-1", "etl-developer-1", "data_transformation")
    result = tick(home, instance)
    assert [(r.run_key, r.job_name) for r in result.run_requests] == [(stored[0].id, "materialize_transformations")]
    assert result.run_requests[0].tags["datacrew/origin"] == "schedule:nightly_transformations:2026-11-24T05:00:00+00:00"


def test_definitions_name_the_gate_ledger_and_schedule(home):
    defs = build_definitions(home)
    for name in ("delegation_gate", "delegation_ledger_started", "delegation_ledger_success",
                 "delegation_ledger_failure", "delegation_ledger_canceled"):
        assert defs.resolve_sensor_def(name).name == name
    assert defs.resolve_job_def("task_data_validation").name == "task_data_validation"
    assert defs.resolve_schedule_def("nightly_transformations").cron_schedule == "0 5 * * *"



def test_a_second_run_with_a_live_requests_tag_is_refused(home, instance):
    request = submit_coordinated(home)
    tags = tick(home, instance).run_requests[0].tags
    job = build_definitions(home).resolve_job_def("task_data_validation")
    first = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert first.success
    forged = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert not forged.success
    failure = [e for e in forged.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert f"request is held by run {first.run_id}" in failure.event_specific_data.error.message
    tick(home, instance)
    assert Delegation(home).store.require(request.id).run_id == first.run_id


def test_a_reassignment_between_judging_and_launching_wins(home):
    request = submit_coordinated(home)
    delegation = Delegation(home)
    judged = delegation.store.require(request.id)
    delegation.store.reassign(request.id, "quality-validator-1", by="optimizer", reason="moved")
    launch = Change(request.id, ("pending",), "launched", decision={"status": "allowed", "reasons": ["r"]},
                    actor="gate", expected_target=judged.target)
    assert delegation.store.apply([launch]) == [False]
    assert delegation.store.require(request.id).state == "pending"


def test_an_approved_escalation_waits_for_capacity_and_then_launches(home, instance):
    set_agent(home, "etl-developer-1", capacity=1)
    busy = submit_coordinated(home)
    escalated = submit_coordinated(home, facts={"stage_scope": True, "data_quality_threshold": 0.1})
    assert [r.run_key for r in tick(home, instance).run_requests] == [busy.id]
    Delegation(home).approve(escalated.id, "dana")
    assert [r.run_key for r in tick(home, instance).run_requests] == [busy.id]  # a repeat: no run yet
    assert Delegation(home).store.require(escalated.id).state == "approved"
    # The busy request's run finishes; capacity frees and the approval still holds.
    created = {busy.id: [RunInfo("run-busy", "SUCCESS", busy.id)]}
    outcome = gate_tick(Delegation(home), cursor=None, runs=lambda ids: {i: created[i] for i in ids if i in created})
    assert [l.request.id for l in outcome.launches] == [escalated.id]
    assert "overridden by dana on escalation" in Delegation(home).store.require(escalated.id).decision["reasons"]


def test_work_for_a_job_the_sensor_does_not_target_waits(home):
    request = submit_coordinated(home)
    outcome = gate_tick(Delegation(home), cursor=None, runs=lambda ids: {},
                        jobs=frozenset({"materialize_transformations"}))
    assert outcome.launches == []
    assert Delegation(home).store.require(request.id).state == "pending"
    assert outcome.log == [f"{request.id}: waits; job task_data_validation is not loaded in this code location"]
    assert outcome.counts == {"waiting for reload": 1}


def test_a_running_request_whose_run_vanished_is_failed_and_frees_capacity(home):
    request = submit_coordinated(home)
    delegation = Delegation(home)
    gate_tick(delegation, cursor=None, runs=lambda ids: {})
    delegation.store.transition(request.id, "running", expected_from="launched", run_id="gone",
                                decision={"status": "running", "reasons": ["r"]}, actor="ledger")
    gate_tick(delegation, cursor=None, runs=lambda ids: {})
    stored = delegation.store.require(request.id)
    assert (stored.state, stored.decision["reasons"]) == ("failed", ["run gone is no longer in the instance"])
    assert delegation.workload() == {}


def test_facts_a_crew_supplied_do_not_satisfy_a_rule(home, instance):
    from datacrew_resources.delegation.service import crew_origin

    # etl-architect-1's crew asks with the facts rule 2 wants; a person asking the same is allowed.
    crew = submit_coordinated(home, origin_key=crew_origin("run-1"))
    person = submit_coordinated(home)
    assert [r.run_key for r in tick(home, instance).run_requests] == [person.id]
    stored = Delegation(home).store.require(crew.id)
    assert stored.state == "escalated"
    assert "condition stage_scope == True fails: fact 'stage_scope' missing" in stored.decision["reasons"]
