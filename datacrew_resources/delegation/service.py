"""The delegation control plane of one home: submit, approve, reject, and the live roster.

This is the Python API behind `datacrew requests`, the crew's `request_delegation`
tool and the schedules; the gate sensor reads the same store. Names are checked
here, at the door, so a bad request is refused before anything is stored.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from datacrew_resources.config import AgentConfig, ConfigError, Home, LoadedSpec, PlatformConfig

from .policy import Approval
from .rules import CompiledRule, compile_rules, effective_rules
from .spec_schedules import ScheduledSpec, scheduled_specs
from .states import Change
from .store import APPROVABLE_FROM, APPROVED, ESCALATED, LAUNCHED, RUNNING, Priority, Request, RequestStore
from .targets import TaskTarget, require_task_type, task_targets, touched_classifications

CONTROL_URL_ENV = "DATACREW_CONTROL_URL"
CONTROL_DB = "control.sqlite"
# Origin keys of requests an agent submitted during a crew run; their facts are the model's.
CREW_ORIGIN = "crew:"


def crew_origin(run_id: str) -> str:
    """A unique origin key for one request made by a crew in run `run_id`."""
    return f"{CREW_ORIGIN}{run_id}:{uuid.uuid4().hex}"


def trusted_facts(request: Request) -> dict[str, Any]:
    """The facts the policy may use: none from a model (a crew could otherwise satisfy a rule's
    conditions itself); the platform's derived facts apply to every request."""
    return {} if (request.origin_key or "").startswith(CREW_ORIGIN) else dict(request.facts)


# The decision status an approval of an escalated request is stored with; the gate reads it back.
APPROVED_ON_ESCALATION = "approved_on_escalation"


def control_plane_location(home: Home, config: PlatformConfig) -> str:
    """`DATACREW_CONTROL_URL`, else `gate.control_plane_url`, else SQLite in the home's state dir."""
    return os.environ.get(CONTROL_URL_ENV) or config.gate.control_plane_url or str(home.state_dir / CONTROL_DB)


@dataclass(frozen=True)
class AgentStatus:
    """One roster entry with its live workload (launched + running requests)."""

    agent: AgentConfig
    workload: int

    @property
    def load(self) -> float:
        return self.workload / self.agent.capacity

    def to_dict(self) -> dict[str, Any]:
        a = self.agent
        return {"agent_id": a.id, "authority": a.authority.name, "role": a.role, "capacity": a.capacity,
                "workload": self.workload, "load": round(self.load, 3), "clearance": a.clearance,
                "specializations": dict(a.specializations)}


class Delegation:
    """Config, rules, task targets and the request store of one home."""

    def __init__(self, home: Home, config: PlatformConfig | None = None,
                 specs: list[LoadedSpec] | None = None, store: RequestStore | None = None):
        self.home = home
        self.config = config or home.load_config()
        self.specs = specs if specs is not None else home.load_specs(self.config)
        self.store = store or RequestStore(control_plane_location(home, self.config))
        # Resolved now, so a task type naming a missing spec or job (or a spec schedule naming
        # an unknown agent) fails every command alike.
        self.targets: dict[str, TaskTarget] = task_targets(self.config, self.specs, root=home.root)

    @cached_property
    def spec_schedules(self) -> list[ScheduledSpec]:
        return scheduled_specs(self.config, self.specs, root=self.home.root)

    def judged_as(self, task_type: str) -> str:
        """The task type the rules see for `task_type` (a scheduled spec's: its schedule's)."""
        target = self.targets.get(task_type)
        return target.judged_as if target else task_type

    @cached_property
    def roster(self) -> dict[str, AgentConfig]:
        return {a.id: a for a in self.config.agents}

    @cached_property
    def rules(self) -> tuple[CompiledRule, ...]:
        return compile_rules(effective_rules(self.config))

    @cached_property
    def classified(self) -> dict[str, str]:
        from datacrew_resources.catalog.store import CatalogStore
        from datacrew_resources.context import classifications

        records = CatalogStore.for_home(self.home, self.config).all()
        found = classifications(self.config, records, self.specs)
        # Sources not yet discovered still have their configured level.
        for loaded in self.specs:
            for key in loaded.spec.sources:
                source = self.config.source(key.split("/")[0])
                found.setdefault(key, source.classification if source else "internal")
        return found

    def _agent(self, agent_id: Any, field: str) -> str:
        if agent_id not in self.roster:
            known = ", ".join(sorted(self.roster)) or "empty"
            raise ConfigError(f"unknown agent (roster: {known})", field=field, value=agent_id)
        return agent_id

    def submit(
        self,
        *,
        requester: str,
        target: str,
        task_type: str,
        priority: Priority | int | str = Priority.MEDIUM,
        facts: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        origin_key: str | None = None,
    ) -> Request:
        """Queue a request for the gate; unknown agents or task types raise ConfigError, storing nothing."""
        self._agent(requester, "requester")
        self._agent(target, "target")
        task = require_task_type(self.targets, task_type)
        return self.store.submit(
            requester=requester, target=target, task_type=task_type, work_target=task.job_name,
            priority=priority, facts=facts, resources=resources, origin_key=origin_key,
            classifications=touched_classifications(task, self.classified),
        )

    def _approver(self, request_id: str, by: str) -> tuple[Request, list[str]]:
        """The request and the approver's roles that sit on its escalation path."""
        approvers = {a.name: a for a in self.config.approvers}
        if by not in approvers:
            known = ", ".join(sorted(approvers)) or "none configured in datacrew.yaml approvers"
            raise ConfigError(f"unknown approver (approvers: {known})", field="by", value=by)
        request = self.store.require(request_id)
        if request.state not in APPROVABLE_FROM:
            raise ConfigError(f"is {request.state}, not awaiting approval", field=f"request {request_id}")
        path = [role.lower() for role in (request.decision or {}).get("escalation_path") or ()]
        held = [role for role in approvers[by].roles if role in path]
        if not held:
            raise ConfigError(f"{by} holds none of the roles on the escalation path ({', '.join(path) or 'empty'})",
                              field="by", value=by)
        return request, held

    def approve(self, request_id: str, by: str) -> Request:
        """Approve as a person holding a role on the request's escalation path."""
        request, held = self._approver(request_id, by)
        status = APPROVED_ON_ESCALATION if request.state == ESCALATED else APPROVED
        decision = {"status": status, "reasons": [f"approved by {by} as {', '.join(held)}"],
                    "rule": (request.decision or {}).get("rule")}
        if not self.store.transition(request_id, APPROVED, expected_from=request.state, decision=decision,
                                     actor=by, approved_by=by):
            raise ConfigError(f"changed while approving; now {self.store.require(request_id).state}",
                              field=f"request {request_id}")
        return self.store.require(request_id)

    def reject(self, request_id: str, by: str, reason: str) -> Request:
        """Reject as a person holding a role on the request's escalation path."""
        self._approver(request_id, by)
        return self.store.reject(request_id, by, reason)

    def workload(self) -> dict[str, int]:
        return self.store.workload((LAUNCHED, RUNNING))

    def agents(self) -> list[AgentStatus]:
        load = self.workload()
        return [AgentStatus(agent, load.get(agent.id, 0)) for agent in self.config.agents]


def approval_of(request: Request) -> Approval | None:
    """The person's approval an approved request carries, for the gate's re-check at launch."""
    if request.state != APPROVED or not request.approved_by:
        return None
    escalated = (request.decision or {}).get("status") == APPROVED_ON_ESCALATION
    return Approval(request.approved_by, escalated=escalated)


def delegated_agent(home: Home, config: PlatformConfig, specs: list[LoadedSpec], request_id: str,
                    spec_key: str, run_id: str) -> str:
    """The agent a delegated run works as: the request's target, if the store says the request
    is launched or running, its task type covers this spec and this run holds the request.

    The first run to ask claims the request (compare-and-set on an unset run id); any other
    run carrying the same tag is refused, so a run tag alone grants nothing.
    """
    delegation = Delegation(home, config, specs)
    store, field = delegation.store, "run tag datacrew/request"
    request = store.get(request_id)
    if request is None:
        raise ConfigError("unknown delegation request", field=field, value=request_id)
    if request.state not in (LAUNCHED, RUNNING):
        raise ConfigError(f"request is {request.state}, not launched", field=field, value=request_id)
    target = delegation.targets.get(request.task_type)
    if target is None or spec_key not in {l.spec.key_string for l in target.specs}:
        raise ConfigError(f"task type {request.task_type!r} does not cover {spec_key}", field=field,
                          value=request_id)
    if request.run_id is None:
        claim = {"status": RUNNING, "reasons": [f"claimed by run {run_id}"],
                 "rule": (request.decision or {}).get("rule")}
        store.apply([Change(request_id, (request.state,), RUNNING if request.state == LAUNCHED else None,
                            decision=claim, actor="ledger", fields={"run_id": run_id}, expect_no_run=True)])
        request = store.require(request_id)
    if request.run_id != run_id:
        raise ConfigError(f"request is held by run {request.run_id}", field=field, value=request_id)
    return request.target
