"""Checks across `datacrew.yaml` sections that one field's validator cannot see."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError
from .platform import Authority, DelegationRuleConfig, PlatformConfig

# Authority levels as they are spelled in escalation paths.
AUTHORITY_ROLES: dict[str, Authority] = {a.name.lower(): a for a in Authority}


def escalation_problem(rule: DelegationRuleConfig) -> str | None:
    """Why a rule's escalation path is circular, or None.

    A path must only go up: no entry twice, and every entry naming an authority
    level must be above the delegating level and above the level before it, or
    an escalation could come back to someone who is already below it.
    """
    path = [role.strip().lower() for role in rule.escalation_path]
    repeated = sorted({role for role in path if path.count(role) > 1})
    if repeated:
        return f"circular: {', '.join(repeated)} appears more than once"
    floor, below = rule.from_authority, rule.from_authority.name.lower()
    for role in path:
        level = AUTHORITY_ROLES.get(role)
        if level is None:
            continue
        if level <= floor:
            return f"circular: {role} is not above {below}"
        floor, below = level, role
    return None


def _rule_problems(rules: Sequence[DelegationRuleConfig], file: str) -> list[ConfigError]:
    from datacrew_resources.delegation.rules import compile_rules  # the delegation package imports config

    problems = []
    for i, rule in enumerate(rules):
        why = escalation_problem(rule)
        if why:
            problems.append(ConfigError(why, file=file, field=f"delegation_rules[{i}].escalation_path",
                                        value=rule.escalation_path))
    try:
        compile_rules(rules)
    except ConfigError as e:
        problems.append(ConfigError(e.problem, file=file, field=e.field, value=e.value))
    return problems


def _schedule_problems(config: PlatformConfig, file: str) -> list[ConfigError]:
    agents = {a.id for a in config.agents}
    problems = []
    for i, schedule in enumerate(config.schedules):
        for name in ("requester", "agent"):
            agent_id = getattr(schedule, name)
            if agent_id not in agents:
                problems.append(ConfigError(f"unknown agent (roster: {', '.join(sorted(agents)) or 'empty'})",
                                            file=file, field=f"schedules[{i}].{name}", value=agent_id))
        if schedule.task_type not in config.task_types:
            known = ", ".join(sorted(config.task_types)) or "none configured"
            problems.append(ConfigError(f"unknown task type (task_types: {known})", file=file,
                                        field=f"schedules[{i}].task_type", value=schedule.task_type))
    return problems


def delegation_problems(config: PlatformConfig, *, file: str) -> list[ConfigError]:
    """Every cross-section problem of the delegation settings, one error each."""
    return [*_rule_problems(config.delegation_rules, file), *_schedule_problems(config, file)]
