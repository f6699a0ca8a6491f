"""`datacrew requests|agents|optimize`: real queue contents, one-line errors with exit 2."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from datacrew_assets.cli import main
from datacrew_resources.delegation.service import Delegation

from .delegation_helpers import edit_config, set_agent, submit_coordinated, tick


# The demo home's task types.
TASK_TYPES = {"data_transformation": {"job": "materialize_transformations"},
              "etl_orchestration": {"job": "materialize_transformations"},
              "data_validation": {"assets": ["flights_clean", "delays_by_carrier"]}}


def cli(home, capsys, *args):
    code = main([*args, "--home", str(home.root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_list_show_approve_reject(home, capsys):
    code, out, _ = cli(home, capsys, "requests", "submit", "--from", "etl-architect-1", "--to", "etl-developer-1",
                       "--task", "data_validation", "--fact", "stage_scope=true", "--fact",
                       "data_quality_threshold=0.9", "--resource", "cpu=2", "--priority", "high", "--json")
    assert code == 0
    submitted = json.loads(out)
    assert (submitted["state"], submitted["priority"], submitted["facts"]) == (
        "pending", "HIGH", {"stage_scope": True, "data_quality_threshold": 0.9})
    assert submitted["resources"] == {"cpu": 2}
    assert submitted["classifications"] == ["internal"]

    code, out, _ = cli(home, capsys, "requests", "list", "--json")
    assert [r["request_id"] for r in json.loads(out)] == [submitted["request_id"]]

    escalated = Delegation(home).submit(requester="chief-architect", target="etl-developer-1",
                                        task_type="data_validation")
    with dg.instance_for_test(temp_dir=str(home.dagster_home)) as instance:
        tick(home, instance)
    code, out, _ = cli(home, capsys, "requests", "list", "--state", "escalated")
    assert code == 0 and escalated.id in out and "no rule delegates from DATA_ARCHITECT" in out

    code, _, err = cli(home, capsys, "requests", "approve", escalated.id, "--by", "nobody")
    assert code == 2
    assert err.strip().splitlines() == [
        "datacrew: by: 'nobody': unknown approver (approvers: ari, dana)"]
    code, out, _ = cli(home, capsys, "requests", "reject", escalated.id, "--by", "dana", "--reason", "not now")
    assert code == 0 and "rejected" in out
    code, out, _ = cli(home, capsys, "requests", "show", escalated.id, "--json")
    trail = json.loads(out)["audit"]
    assert [(e["status"], e["actor"]) for e in trail] == [("escalated", "gate"), ("rejected", "dana")]
    assert trail[1]["reasons"] == ["not now"]


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "etl-architect-1", "--to", "ghost", "--task", "data_validation"],
     "datacrew: target: 'ghost': unknown agent (roster: chief-architect, discovery-specialist-1, etl-architect-1, "
     "etl-developer-1, orchestrator-1, quality-validator-1)"),
    (["--from", "etl-architect-1", "--to", "etl-developer-1", "--task", "nap"],
     "datacrew: task_type: 'nap': unknown task type (known: data_transformation, data_validation, "
     "etl_orchestration)"),
    (["--from", "etl-architect-1", "--to", "etl-developer-1", "--task", "data_validation", "--fact", "oops"],
     "datacrew: --fact: 'oops': expected key=value"),
    (["--from", "etl-architect-1", "--to", "etl-developer-1", "--task", "data_validation", "--priority", "9"],
     "datacrew: priority: '9': unknown priority (use LOW, MEDIUM, HIGH, CRITICAL, EMERGENCY or 1..5)"),
])
def test_bad_submissions_exit_2_with_one_line_and_store_nothing(home, capsys, args, message):
    code, _, err = cli(home, capsys, "requests", "submit", *args)
    assert (code, err.strip().splitlines()) == (2, [message])
    assert Delegation(home).store.list() == []


def test_unknown_request_id(home, capsys):
    code, _, err = cli(home, capsys, "requests", "approve", "nope", "--by", "dana")
    assert (code, err.strip()) == (2, "datacrew: request: 'nope': unknown request")


@pytest.mark.parametrize(("section", "value", "message"), [
    ("delegation_rules", [{"from_authority": "STAGE_COORDINATOR", "to_authority": "PIPELINE_COLLABORATOR",
                           "task_types": ["data_validation"], "conditions": {"data_quality_threshold": ">= 0.8!"}}],
     "datacrew: datacrew.yaml: delegation_rules[0].conditions.data_quality_threshold: '>= 0.8!': "),
    ("delegation_rules", [{"from_authority": "STAGE_COORDINATOR", "to_authority": "PIPELINE_COLLABORATOR",
                           "task_types": ["data_validation"],
                           "escalation_path": ["data_architect", "pipeline_manager"]}],
     "datacrew: datacrew.yaml: delegation_rules[0].escalation_path: ['data_architect', 'pipeline_manager']: "
     "circular: pipeline_manager is not above data_architect"),
    ("delegation_rules", [{"from_authority": "STAGE_COORDINATOR", "to_authority": "PIPELINE_COLLABORATOR",
                           "task_types": ["data_validation"], "escalation_path": ["lead", "lead"]}],
     "datacrew: datacrew.yaml: delegation_rules[0].escalation_path: ['lead', 'lead']: circular: lead appears "
     "more than once"),
    ("delegation_rules", [{"from_authority": "PIPELINE_MANAGER", "to_authority": "STAGE_COORDINATOR",
                           "task_types": ["data_validation"], "escalation_path": ["stage_coordinator"]}],
     "datacrew: datacrew.yaml: delegation_rules[0].escalation_path: ['stage_coordinator']: circular: "
     "stage_coordinator is not above pipeline_manager"),
    ("schedules", [{"name": "n", "cron": "0 5 * * *", "task_type": "data_validation", "requester": "ghost",
                    "agent": "etl-developer-1"}],
     "datacrew: datacrew.yaml: schedules[0].requester: 'ghost': unknown agent (roster: "),
    ("schedules", [{"name": "n", "cron": "every day", "task_type": "data_validation",
                    "requester": "etl-architect-1", "agent": "etl-developer-1"}],
     "datacrew: datacrew.yaml: schedules[0].cron: 'every day': not a valid cron expression"),
    ("task_types", {**TASK_TYPES, "data_validation": {"assets": ["no_such_spec"]}},
     "datacrew: datacrew.yaml: task_types.data_validation.assets: 'no_such_spec': unknown transformation (specs: "),
    ("task_types", {**TASK_TYPES, "data_validation": {"job": "launch_missiles"}},
     "datacrew: datacrew.yaml: task_types.data_validation.job: 'launch_missiles': unknown job "),
])
def test_bad_delegation_config_is_refused_before_anything_is_queued(home, capsys, section, value, message):
    submit_coordinated(home)
    before = Delegation(home).store.list()
    edit_config(home, **{section: value})
    code, _, err = cli(home, capsys, "requests", "list")
    assert code == 2
    assert err.strip().splitlines()[0].startswith(message)
    assert len(err.strip().splitlines()) == 1
    edit_config(home, **{section: [] if section != "task_types" else TASK_TYPES})
    assert Delegation(home).store.list() == before


def test_agents_show_live_workload(home, capsys):
    submit_coordinated(home)
    with dg.instance_for_test(temp_dir=str(home.dagster_home)) as instance:
        tick(home, instance)
    code, out, _ = cli(home, capsys, "agents", "--json")
    roster = {a["agent_id"]: a for a in json.loads(out)}
    assert (code, roster["etl-developer-1"]["workload"], roster["etl-developer-1"]["capacity"]) == (0, 1, 4)
    assert roster["quality-validator-1"]["workload"] == 0


def test_optimize_reports_both_plans_and_applies_moves(home, capsys):
    set_agent(home, "etl-developer-1", capacity=1)
    # Two data_validation requests: quality-validator-1 (1.3) beats etl-developer-1 (no bonus).
    ids = [submit_coordinated(home).id for _ in range(2)]
    code, out, _ = cli(home, capsys, "optimize", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["comparison"]["total_match"] == {"optimal": 2.6, "baseline": 2.6}
    assert set(report["moves"]) == set(ids)
    code, out, _ = cli(home, capsys, "optimize", "--apply", "--json")
    assert json.loads(out)["moved"] == 2
    assert {r.target for r in Delegation(home).store.list()} == {"quality-validator-1"}
