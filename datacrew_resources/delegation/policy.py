"""One delegation request judged against the roster, the rules and the current workload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from datacrew_resources.config.classification import CLASSIFICATIONS, may_read
from datacrew_resources.config.platform import AgentConfig, DelegationRuleConfig

from .conditions import MISSING, quantity
from .rules import NO_RULE_ESCALATION, CompiledRule, compile_rules

Status = Literal["allowed", "denied", "awaiting_approval", "escalated", "deferred"]


@dataclass(frozen=True)
class DelegationRequest:
    """`requester` asks `target` to do `task_type`; `facts` feed the rule's conditions."""

    requester: str
    target: str
    task_type: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    classifications: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alternative:
    """Another agent of the target's authority: `match` is its specialisation for the task type."""

    agent_id: str
    match: float
    spare: int


@dataclass(frozen=True)
class Decision:
    status: Status
    rule: int | None
    rule_description: str
    reasons: tuple[str, ...]
    escalation_path: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.status == "allowed"


def _roster(roster: Mapping[str, AgentConfig] | Iterable[AgentConfig]) -> dict[str, AgentConfig]:
    return dict(roster) if isinstance(roster, Mapping) else {a.id: a for a in roster}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _cleared(agent: AgentConfig, classifications: Iterable[str]) -> bool:
    return all(may_read(agent.clearance, c) for c in classifications)


def alternatives_for(
    target: AgentConfig, request: DelegationRequest, roster: Mapping[str, AgentConfig],
    workload: Mapping[str, int], *, check_clearance: bool,
) -> tuple[Alternative, ...]:
    """Other agents of the target's authority with spare capacity (and, when the rule requires
    governance, clearance for the data touched), best first.

    Ranking: highest specialisation bonus for the task type (0 when absent), then most spare
    capacity (capacity - current tasks), then agent id.
    """
    found = []
    for agent in roster.values():
        spare = agent.capacity - workload.get(agent.id, 0)
        if (agent.id in (target.id, request.requester) or agent.authority != target.authority or spare <= 0
                or (check_clearance and not _cleared(agent, request.classifications))):
            continue
        found.append(Alternative(agent.id, float(agent.specializations.get(request.task_type, 0.0)), spare))
    return tuple(sorted(found, key=lambda a: (-a.match, -a.spare, a.agent_id)))


def _find_rule(rules: Sequence[CompiledRule], source: AgentConfig, target: AgentConfig,
               task_type: str) -> tuple[CompiledRule | None, str]:
    for rule in rules:
        if rule.covers(source.authority, target.authority, task_type):
            return rule, f"{rule.describe()} covers task type {task_type!r}"
    between = [r for r in rules if r.config.from_authority == source.authority
               and r.config.to_authority == target.authority]
    if between:
        return None, "; ".join(
            f"{r.describe()} does not cover task type {task_type!r} (covers {', '.join(r.config.task_types)})"
            for r in between)
    return None, (f"no rule delegates from {source.authority.name} to {target.authority.name}")


def _check_conditions(rule: CompiledRule, facts: Mapping[str, Any]) -> tuple[bool, list[str]]:
    ok, reasons = True, []
    for condition in rule.conditions:
        value = condition.read(facts)
        if value is MISSING:
            ok = False
            reasons.append(f"condition {condition.describe()} fails: fact {condition.key!r} missing")
        elif condition.holds(value):
            reasons.append(f"condition {condition.describe()} holds ({_fmt(value)})")
        else:
            ok = False
            reasons.append(f"condition {condition.describe()} fails ({_fmt(value)})")
    return ok, reasons


# Derived facts that change as work finishes: failing only these means "wait", not "escalate".
LOAD_FACTS = frozenset({"data_workload"})


def _only_load_fails(rule: CompiledRule, facts: Mapping[str, Any]) -> bool:
    failing = [c.key for c in rule.conditions if (v := c.read(facts)) is MISSING or not c.holds(v)]
    return bool(failing) and set(failing) <= LOAD_FACTS


def _check_resources(rule: CompiledRule, resources: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """A resource the rule does not limit is not granted by it."""
    ok, reasons = True, []
    for name, asked in resources.items():
        limit = rule.limits.get(name)
        parsed = quantity(asked)
        if limit is None:
            ok = False
            reasons.append(f"resource {name} {_fmt(asked)} is not granted by the rule (it limits "
                           f"{', '.join(rule.limits) or 'nothing'})")
        elif parsed is None:
            ok = False
            reasons.append(f"resource {name} {_fmt(asked)} is not a number or duration")
        else:
            within = parsed[0] <= limit
            ok = ok and within
            configured = _fmt(rule.config.resource_limits[name])
            verdict = "within limit" if within else "exceeds limit"
            reasons.append(f"resource {name} {_fmt(asked)} {verdict} {configured}")
    return ok, reasons


def _check_governance(rule: CompiledRule | None, target: AgentConfig,
                      classifications: Sequence[str]) -> tuple[bool, str]:
    """Without a rule (an approved escalation) governance always applies."""
    if rule is not None and not rule.config.data_governance_required:
        return True, "governance not required by the rule"
    unknown = [c for c in classifications if c not in CLASSIFICATIONS]
    if unknown:
        return False, f"governance: unknown classification {', '.join(map(repr, unknown))}"
    refused = [c for c in classifications if not may_read(target.clearance, c)]
    if refused:
        return False, (f"governance: {target.id} clearance {target.clearance} does not cover "
                       f"{', '.join(refused)}")
    touched = ", ".join(classifications) or "no classified data"
    return True, f"governance: {target.id} clearance {target.clearance} covers {touched}"


def derived_facts(request: DelegationRequest, source: AgentConfig, target: AgentConfig,
                  workload: Mapping[str, int]) -> dict[str, Any]:
    """Facts the platform knows better than the requester; they replace any the request gave.

    `data_workload` is the target's load (tasks / capacity), `expertise_match` its specialisation
    bonus for the task type (0 without one), `peer_level` whether both share an authority level.
    """
    return {
        "data_workload": workload.get(target.id, 0) / target.capacity,
        "expertise_match": float(target.specializations.get(request.task_type, 0.0)),
        "peer_level": source.authority == target.authority,
    }


@dataclass(frozen=True)
class Approval:
    """A person's approval already given; `escalated` means it overrides the rule checks."""

    by: str
    escalated: bool = False


def evaluate(
    request: DelegationRequest,
    *,
    roster: Mapping[str, AgentConfig] | Iterable[AgentConfig],
    rules: Sequence[DelegationRuleConfig] | Sequence[CompiledRule],
    workload: Mapping[str, int],
    approval: Approval | None = None,
) -> Decision:
    """Decide one request. Checks, in order, stopping at the first failing one: agents known,
    applicable rule (first in order), conditions, resource limits, target capacity, governance,
    approval. A malformed rule raises ConfigError before any decision is made.

    Outcomes follow the tutorial: a missing rule, failed conditions or exceeded limits escalate
    (along the rule's path); an overloaded target defers with ranked alternatives; unknown agents
    and governance refusals deny. An escalated request approved by a person skips the rule checks
    (its approval is the decision), never the capacity or governance ones.
    """
    agents = _roster(roster)
    compiled = tuple(rules) if all(isinstance(r, CompiledRule) for r in rules) else compile_rules(rules)
    reasons: list[str] = []

    def end(status: Status, reason: str, rule: CompiledRule | None = None, path: Sequence[str] | None = None,
            alternatives: tuple[Alternative, ...] = ()) -> Decision:
        if reason:
            reasons.append(reason)
        if path is None:
            path = rule.config.escalation_path if rule else ()
        if status == "escalated" and not path:
            status = "denied"
        return Decision(status, rule.index if rule else None, rule.describe() if rule else "",
                        tuple(reasons), tuple(path), alternatives)

    unknown = [f"{role} {agent_id!r}" for role, agent_id in
               (("requester", request.requester), ("target", request.target)) if agent_id not in agents]
    if unknown:
        return end("denied", f"unknown agent: {', '.join(unknown)}")
    if request.requester == request.target:
        return end("denied", f"{request.requester} cannot delegate to itself")
    source, target = agents[request.requester], agents[request.target]
    reasons.append(
        f"agents known: {source.id} ({source.authority.name}) -> {target.id} ({target.authority.name})"
    )
    overridden = approval is not None and approval.escalated

    rule, why = _find_rule(compiled, source, target, request.task_type)
    if rule is None and not overridden:
        return end("escalated", why, path=NO_RULE_ESCALATION)
    reasons.append(why if rule else f"{why}; overridden by {approval.by} on escalation")

    if rule is not None:
        facts = {**request.facts, **derived_facts(request, source, target, workload)}
        for ok, lines in (_check_conditions(rule, facts), _check_resources(rule, request.resources)):
            reasons.extend(lines)
            if not ok and not overridden:
                if _only_load_fails(rule, facts):
                    # The target is too busy for the rule, not the wrong target: wait, as when full.
                    alternatives = alternatives_for(target, request, agents, workload,
                                                    check_clearance=rule.config.data_governance_required)
                    return end("deferred", f"target {target.id} too loaded for {rule.describe()}", rule,
                               path=(), alternatives=alternatives)
                return end("escalated", "", rule)
            if not ok:
                reasons.append(f"overridden by {approval.by} on escalation")

    current = workload.get(target.id, 0)
    spare = target.capacity - current
    if spare <= 0:
        governed = rule is None or rule.config.data_governance_required
        alternatives = alternatives_for(target, request, agents, workload, check_clearance=governed)
        return end("deferred", f"target {target.id} overloaded: {current} tasks of capacity {target.capacity}",
                   rule, path=(), alternatives=alternatives)
    reasons.append(f"target {target.id} has spare capacity {spare} ({current} tasks of {target.capacity})")

    ok, line = _check_governance(rule, target, request.classifications)
    if not ok:
        return end("denied", line, rule, path=())
    reasons.append(line)

    if approval is not None:
        reasons.append(f"approved by {approval.by}")
    elif rule is not None and rule.config.approval_required:
        reasons.append("approval required by the rule")
        return Decision("awaiting_approval", rule.index, rule.describe(), tuple(reasons),
                        tuple(rule.config.escalation_path))
    return Decision("allowed", rule.index if rule else None, rule.describe() if rule else "", tuple(reasons))


__all__ = ["Alternative", "Approval", "Decision", "DelegationRequest", "alternatives_for", "derived_facts",
           "evaluate"]
