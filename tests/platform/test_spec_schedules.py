"""Per-spec cron schedules over a real demo home: a tick queues one request, the gate launches
that spec's job, the run materializes that spec alone; and the discovery schedule."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from datacrew_assets.cli import main
from datacrew_assets.definitions import build_definitions
from datacrew_assets.discovery import DISCOVERY_JOB, DISCOVERY_SCHEDULE
from datacrew_resources.config import ConfigError, Home
from datacrew_resources.delegation.service import Delegation

from .delegation_helpers import edit_config, tick

SPEC = "delays_by_carrier"
SCHEDULE = f"{SPEC}_schedule"
JOB = f"task_scheduled_{SPEC}"
KEY = dg.AssetKey(["transformed", SPEC])
SIX = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
# A collaborator runs it, so the defaults are rule 2's: etl-architect-1 asks, judged as data_transformation.
COLLABORATOR_SCHEDULE = """agent: etl-developer-1
schedule:
  cron: "0 6 * * *"
  facts: {stage_scope: true, data_quality_threshold: 0.95}
"""


@pytest.fixture
def instance(home):
    with dg.instance_for_test(temp_dir=str(home.dagster_home)) as instance:
        yield instance


def set_schedule(home: Home, text: str = COLLABORATOR_SCHEDULE, spec: str = SPEC) -> None:
    """Replace the demo spec's `agent:` line with `text` (an agent and a schedule)."""
    path = home.root / "specs" / f"{spec}.yaml"
    original = path.read_text()
    assert "agent: etl-architect-1\n" in original
    path.write_text(original.replace("agent: etl-architect-1\n", text))


def evaluate(home: Home, instance: dg.DagsterInstance, when: datetime = SIX) -> dg.SkipReason:
    schedule = build_definitions(home).resolve_schedule_def(SCHEDULE)
    result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
    assert result.run_requests == []  # never a launch of its own
    return result.skip_message


def test_a_tick_queues_one_request_per_scheduled_time_for_that_spec(home, instance):
    set_schedule(home)
    schedule = build_definitions(home).resolve_schedule_def(SCHEDULE)
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == ("0 6 * * *", "UTC", JOB)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    first, again = evaluate(home, instance), evaluate(home, instance)
    [request] = Delegation(home).store.list()
    assert first == again == f"submitted request {request.id} (pending); delegation_gate launches it"
    assert (request.requester, request.target, request.task_type, request.work_target, request.state) == (
        "etl-architect-1", "etl-developer-1", f"scheduled_{SPEC}", JOB, "pending")
    assert request.origin_key == f"schedule:{SCHEDULE}:2026-11-24T06:00:00+00:00"
    assert request.facts == {"stage_scope": True, "data_quality_threshold": 0.95}

    evaluate(home, instance, datetime(2026, 11, 25, 6, tzinfo=timezone.utc))  # the next day: a new request
    assert len(Delegation(home).store.list()) == 2


def test_the_gate_launches_the_spec_job_and_the_run_materializes_that_spec_alone(home, instance):
    set_schedule(home)
    evaluate(home, instance)
    [request] = Delegation(home).store.list()

    result = tick(home, instance)
    assert [(r.run_key, r.job_name) for r in result.run_requests] == [(request.id, JOB)]
    tags = result.run_requests[0].tags
    assert (tags["datacrew/task_type"], tags["datacrew/agent"]) == (f"scheduled_{SPEC}", "etl-developer-1")
    assert tags["datacrew/rule"] == "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR)"
    decision = Delegation(home).store.require(request.id).decision
    assert decision["status"] == "allowed"
    assert "rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR) covers task type 'data_transformation'" in (
        decision["reasons"])

    # What the daemon would run for that run request, in process.
    run = build_definitions(home).resolve_job_def(JOB).execute_in_process(instance=instance, tags=tags,
                                                                          raise_on_error=False)
    assert run.success
    assert [e.asset_key for e in run.get_asset_materialization_events()] == [KEY]
    # The spec's checks, and before them those of the two datasets it reads; no other dataset's.
    checked = {e.asset_check_key.asset_key for e in run.get_asset_check_evaluations()}
    assert checked == {KEY, dg.AssetKey(["lake", "flights"]), dg.AssetKey(["warehouse", "airlines"])}
    materialization = instance.get_latest_materialization_event(KEY).asset_materialization
    assert materialization.metadata["datacrew/agent"].value == "etl-developer-1"
    assert materialization.metadata["datacrew/request"].value == request.id
    assert materialization.metadata["dagster/row_count"].value == 16  # the 16 carriers
    assert home.output_path(KEY.path).is_file()

    assert tick(home, instance).run_requests == []
    assert Delegation(home).store.require(request.id).state == "succeeded"


def test_defaults_follow_the_rules_and_the_rules_still_decide(home, instance):
    # The demo's own agent (a STAGE_COORDINATOR): rule 1 reaches it, from orchestrator-1, needing approval.
    set_schedule(home, """agent: etl-architect-1
schedule:
  cron: "30 5 * * 1-5"
  timezone: Europe/Berlin
  priority: high
  facts: {pipeline_scope: true, sla_deadline: 12_hours}
""")
    [scheduled] = Delegation(home).spec_schedules
    assert (scheduled.requester, scheduled.judged_as) == ("orchestrator-1", "etl_orchestration")
    assert build_definitions(home).resolve_schedule_def(SCHEDULE).execution_timezone == "Europe/Berlin"
    evaluate(home, instance, datetime(2026, 11, 24, 5, 30, tzinfo=timezone.utc))

    assert tick(home, instance).run_requests == []
    [request] = Delegation(home).store.list()
    assert (request.requester, request.state) == ("orchestrator-1", "awaiting_approval")
    Delegation(home).approve(request.id, by="dana")
    assert [(r.run_key, r.job_name) for r in tick(home, instance).run_requests] == [(request.id, JOB)]


def test_the_short_form_without_facts_is_escalated_not_launched(home, instance):
    set_schedule(home, 'agent: etl-architect-1\nschedule: "0 6 * * *"\n')
    evaluate(home, instance)
    assert tick(home, instance).run_requests == []
    [request] = Delegation(home).store.list()
    assert request.state == "escalated"
    assert "condition pipeline_scope == True fails: fact 'pipeline_scope' missing" in request.decision["reasons"]


BAD_SCHEDULES = [
    ("agent: ghost\nschedule: '0 6 * * *'\n",
     "specs/delays_by_carrier.yaml: agent: 'ghost': unknown agent (roster: chief-architect, "),
    ("agent: etl-developer-1\nschedule: {cron: '0 6 * * *', requester: ghost}\n",
     "specs/delays_by_carrier.yaml: schedule.requester: 'ghost': unknown agent (roster: chief-architect, "),
    ("agent: etl-developer-1\nschedule: {cron: '0 6 * * *', requester: etl-developer-1}\n",
     "specs/delays_by_carrier.yaml: schedule.requester: 'etl-developer-1': is the spec's agent, which cannot "
     "delegate to itself"),
    ("agent: chief-architect\nschedule: '0 6 * * *'\n",
     "specs/delays_by_carrier.yaml: schedule.requester: no delegation rule reaches chief-architect "
     "(DATA_ARCHITECT) that fits this schedule; set schedule.requester and schedule.task_type"),
    ("agent: etl-developer-1\nschedule: {cron: '0 6 * * *', requester: orchestrator-1}\n",
     "specs/delays_by_carrier.yaml: schedule.task_type: no delegation rule reaches etl-developer-1 "
     "(PIPELINE_COLLABORATOR) that fits this schedule"),
]


@pytest.mark.parametrize("text, message", BAD_SCHEDULES)
def test_a_bad_spec_schedule_is_one_line_and_queues_nothing(home, instance, capsys, text, message):
    set_schedule(home, COLLABORATOR_SCHEDULE.replace("0 6", "0 7"), spec="flights_clean")  # a good one, ticked
    good = build_definitions(home).resolve_schedule_def("flights_clean_schedule")
    good.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=SIX))
    before = Delegation(home).store.list()

    set_schedule(home, text)
    with pytest.raises(ConfigError) as raised:
        build_definitions(home)
    assert str(raised.value).startswith(message)
    assert main(["requests", "list", "--home", str(home.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"datacrew: {message}")

    (home.root / "specs" / f"{SPEC}.yaml").write_text(
        (home.root / "specs" / f"{SPEC}.yaml").read_text().replace(text, "agent: etl-architect-1\n"))
    assert Delegation(home).store.list() == before  # the earlier request is kept, nothing was added


def test_names_the_platform_derives_must_be_free(home):
    set_schedule(home)
    demo_task_types = {"data_transformation": {"job": "materialize_transformations"}}
    edit_config(home, task_types={**demo_task_types, f"scheduled_{SPEC}": {"job": "materialize_transformations"}})
    with pytest.raises(ConfigError, match=rf"^specs/{SPEC}.yaml: schedule: its task type scheduled_{SPEC} is also "
                                          "configured in datacrew.yaml task_types$"):
        Delegation(home)
    edit_config(home, task_types=demo_task_types, schedules=[
        {"name": SCHEDULE, "cron": "0 5 * * *", "task_type": "data_transformation", "requester": "etl-architect-1",
         "agent": "etl-developer-1"}])
    with pytest.raises(ConfigError, match=rf"^specs/{SPEC}.yaml: schedule: its Dagster schedule {SCHEDULE} is "
                                          "also defined by datacrew.yaml schedules$"):
        Delegation(home)


@pytest.mark.parametrize("text, message", [
    ("schedule: every morning\n", "specs/delays_by_carrier.yaml: schedule: 'every morning': not a valid cron"),
    ("schedule: {cron: '0 6 * * *', timezone: Mars/Olympus}\n",
     "specs/delays_by_carrier.yaml: schedule.timezone: 'Mars/Olympus': unknown time zone"),
    ("schedule: {cron: '0 6 * * *', priority: urgent}\n", "specs/delays_by_carrier.yaml: schedule.priority: 'urgent'"),
    ("schedule: {cron: '0 6 * * *', when: daily}\n", "specs/delays_by_carrier.yaml: schedule.when: 'daily'"),
])
def test_a_malformed_schedule_names_its_field(home, text, message):
    set_schedule(home, "agent: etl-architect-1\n" + text)
    with pytest.raises(ValueError) as raised:
        home.load_specs(home.load_config())
    assert str(raised.value).startswith(message)


def test_a_partitioned_spec_is_not_scheduled_as_a_whole(home):
    edit_config(home, task_types={"data_transformation": {"job": "materialize_transformations"}})
    path = home.root / "specs" / f"{SPEC}.yaml"
    path.write_text(path.read_text().replace("output: {format: parquet}\n", (
        "output: {format: parquet}\npartitions: {type: static, column: carrier, values: [AA, UA]}\n"
        "schedule: '0 6 * * *'\n")))
    with pytest.raises(ConfigError, match=rf"^specs/{SPEC}.yaml: schedule: a partitioned transformation is not "
                                          "scheduled as a whole"):
        build_definitions(home)


def test_the_discovery_schedule_asks_for_a_discovery_run(home, instance):
    schedule = build_definitions(home).resolve_schedule_def(DISCOVERY_SCHEDULE)
    result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=SIX))
    assert [r.run_config for r in result.run_requests] == [{}]
    assert schedule.job_name == DISCOVERY_JOB
    # Discovery is not crew work: the daemon launches it directly, once an operator turns it on.
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
