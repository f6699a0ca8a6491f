"""Property tests of the gate over random rosters, rules, requests and crashes.

A fake instance stands in for Dagster: runs are created from the run requests a
tick returns, once per run key (as the daemon dedupes them), and only when the
tick finished. A tick may die before or after its decisions are committed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacrew_resources.config import Home
from datacrew_resources.config.platform import AgentConfig, Authority, DelegationRuleConfig, PlatformConfig
from datacrew_resources.delegation.audit import AuditLog
from datacrew_resources.delegation.gate import RunInfo, gate_tick
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.store import RequestStore

TASK_TYPES = ["data_transformation", "data_validation", "code_review"]
ROLES = ["stage_coordinator", "pipeline_manager", "data_architect"]


class Crash(Exception):
    """The sensor process dies here."""


agents = st.lists(
    st.builds(
        lambda authority, capacity, bonus: (authority, capacity, bonus),
        st.sampled_from(list(Authority)), st.integers(1, 3),
        st.dictionaries(st.sampled_from(TASK_TYPES), st.sampled_from([0.5, 0.8, 1.2]), max_size=2),
    ),
    min_size=2, max_size=5,
)
rules = st.lists(
    st.builds(
        lambda src, dst, tasks, cond, approval: DelegationRuleConfig(
            from_authority=src, to_authority=dst, task_types=tasks, approval_required=approval,
            conditions={"data_workload": "<= 0.5"} if cond else {}, escalation_path=["data_engineering_lead"],
            data_governance_required=False),
        st.sampled_from(list(Authority)), st.sampled_from(list(Authority)),
        st.lists(st.sampled_from(TASK_TYPES), min_size=1, max_size=3, unique=True), st.booleans(), st.booleans(),
    ),
    max_size=4,
)
requests = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from(TASK_TYPES), st.integers(1, 5)),
    min_size=1, max_size=12,
)
# Each step: a tick (no crash / crash before commit / crash after commit), an approval round, or runs finishing.
steps = st.lists(st.sampled_from(["tick", "crash_before", "crash_after", "approve", "finish"]),
                 min_size=1, max_size=12)


def build(root: Path, roster_spec, rule_list, max_runs: int) -> Delegation:
    roster = [AgentConfig(id=f"a{i}", authority=auth, capacity=cap, specializations=bonus)
              for i, (auth, cap, bonus) in enumerate(roster_spec)]
    config = PlatformConfig(
        agents=roster, delegation_rules=rule_list,
        task_types={t: {"job": "materialize_transformations"} for t in TASK_TYPES},
        approvers=[{"name": "dana", "roles": ["data_engineering_lead", *ROLES]}],
        gate={"batch_size": 3, "max_runs_per_tick": max_runs},
    )
    return Delegation(Home(root), config, specs=[], store=RequestStore(root / "control.sqlite"))


class FakeInstance:
    """Runs by request id, created once per run key from delivered run requests."""

    def __init__(self):
        self.runs: dict[str, RunInfo] = {}
        self.fresh_launches: dict[str, int] = {}  # first launches (not repeats) per request

    def lookup(self, ids):
        return {i: [self.runs[i]] for i in ids if i in self.runs}

    def deliver(self, launches):
        for launch in launches:
            request_id = launch.request.id
            assert not (launch.relaunch and request_id in self.runs), "re-launched a request that has a run"
            if not launch.relaunch:
                self.fresh_launches[request_id] = self.fresh_launches.get(request_id, 0) + 1
            if request_id not in self.runs:
                self.runs[request_id] = RunInfo(f"run-{request_id}", "STARTED", run_key=request_id)

    def finish(self):
        for request_id, run in list(self.runs.items()):
            self.runs[request_id] = RunInfo(run.run_id, "SUCCESS", run.run_key)


def crashing(store, when: str):
    real = store.apply

    def apply(changes):
        if when == "crash_before":
            raise Crash()
        real(changes)
        raise Crash()

    return apply


def covers(rule_list, requester, target, task_type, rule_text):
    if rule_list == []:
        return True  # the tutorial's table, checked by the policy tests
    index = int(rule_text.split()[1])
    rule = rule_list[index]
    return (rule.from_authority, rule.to_authority) == (requester.authority, target.authority) \
        and task_type in rule.task_types


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents, rules, requests, steps, st.integers(1, 4))
def test_no_launch_without_a_rule_none_twice_none_lost(roster_spec, rule_list, request_specs, step_list, max_runs):
    with tempfile.TemporaryDirectory() as tmp:
        delegation = build(Path(tmp), roster_spec, rule_list, max_runs)
        n = len(roster_spec)
        submitted = [delegation.submit(requester=f"a{r % n}", target=f"a{t % n}", task_type=task, priority=p).id
                     for r, t, task, p in request_specs]
        instance, cursor = FakeInstance(), None
        for step in [*step_list, "tick", "tick", "tick"]:
            if step == "approve":
                for request in delegation.store.list(states=["awaiting_approval", "escalated"], limit=100):
                    delegation.approve(request.id, "dana")
            elif step == "finish":
                instance.finish()
            else:
                store = delegation.store
                if step != "tick":
                    store.apply = crashing(store, step)
                try:
                    outcome = gate_tick(delegation, cursor=cursor, runs=instance.lookup)
                except Crash:
                    continue  # the tick's run requests and cursor are lost with the process
                finally:
                    store.__dict__.pop("apply", None)
                instance.deliver(outcome.launches)
                cursor = outcome.cursor

        stored = {r.id: r for r in delegation.store.list(limit=1000)}
        assert set(stored) == set(submitted), "a request was lost"
        assert all(count == 1 for count in instance.fresh_launches.values()), "launched twice"
        log = AuditLog(delegation.store.location, backend=delegation.store.backend)
        roster = delegation.roster
        for request_id in instance.runs:
            request = stored[request_id]
            entries = log.entries(request_id)
            allowed = [e for e in entries if e.status == "allowed"]
            assert len(allowed) == 1, f"{request_id} allowed {len(allowed)} times"
            overridden = any(e.status == "approved_on_escalation" for e in entries)
            assert overridden or covers(rule_list, roster[request.requester], roster[request.target],
                                        request.task_type, allowed[0].rule), "launched without an allowing rule"
        for request in stored.values():
            if request.state in ("launched", "running"):
                assert request.id in instance.runs, "launched but never delivered after quiet ticks"
