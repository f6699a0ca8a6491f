"""Delegation: rules, their conditions, the policy that judges each request,
and the durable request store with its append-only audit log."""

from .audit import AuditLog
from .backend import open_backend
from .conditions import Condition, parse_condition, parse_conditions
from .policy import Alternative, Decision, DelegationRequest, evaluate
from .rules import DEFAULT_RULES, CompiledRule, compile_rules, effective_rules
from .store import Change, Priority, Request, RequestStore

__all__ = [
    "Alternative",
    "AuditLog",
    "Change",
    "CompiledRule",
    "Condition",
    "DEFAULT_RULES",
    "Decision",
    "DelegationRequest",
    "Priority",
    "Request",
    "RequestStore",
    "compile_rules",
    "effective_rules",
    "evaluate",
    "open_backend",
    "parse_condition",
    "parse_conditions",
]
