"""`datacrew requests ...` and `datacrew agents`: the delegation queue and the roster."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

import yaml

from datacrew_resources.config import ConfigError, Home
from datacrew_resources.delegation.assignment import apply_moves, plan_pending
from datacrew_resources.delegation.audit import AuditLog
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.store import STATES, Priority, Request

from .output import emit


def parse_assignments(pairs: Iterable[str], field: str) -> dict[str, Any]:
    """`key=value` pairs from the command line; values read as YAML scalars (0.9, true, 2_hours)."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError("expected key=value", field=field, value=pair)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        found[key.strip()] = value if isinstance(value, (str, int, float, bool)) else raw
    return found


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    requests = sub.add_parser("requests", parents=[common], help="the delegation request queue")
    actions = requests.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", parents=[common], help="queue a request for the delegation gate")
    submit.add_argument("--from", dest="requester", required=True, metavar="AGENT")
    submit.add_argument("--to", dest="target", required=True, metavar="AGENT")
    submit.add_argument("--task", dest="task_type", required=True, metavar="TASK_TYPE")
    submit.add_argument("--priority", default="medium", help="low|medium|high|critical|emergency or 1..5")
    submit.add_argument("--fact", action="append", default=[], metavar="KEY=VALUE",
                        help="a fact for the rule's conditions (repeatable)")
    submit.add_argument("--resource", action="append", default=[], metavar="KEY=VALUE",
                        help="a resource asked for, checked against the rule's limits (repeatable)")
    listing = actions.add_parser("list", parents=[common], help="requests, newest last")
    listing.add_argument("--state", action="append", choices=STATES, help="only these states (repeatable)")
    listing.add_argument("--limit", type=_positive, default=100)
    show = actions.add_parser("show", parents=[common], help="one request with its audit trail")
    show.add_argument("request_id", metavar="ID")
    approve = actions.add_parser("approve", parents=[common], help="approve a request awaiting approval")
    approve.add_argument("request_id", metavar="ID")
    approve.add_argument("--by", required=True, metavar="NAME")
    reject = actions.add_parser("reject", parents=[common], help="reject a request awaiting approval")
    reject.add_argument("request_id", metavar="ID")
    reject.add_argument("--by", required=True, metavar="NAME")
    reject.add_argument("--reason", required=True)
    sub.add_parser("agents", parents=[common], help="the roster with live workload")
    optimize = sub.add_parser("optimize", parents=[common],
                              help="assign pending requests to agents (exact solver vs greedy baseline)")
    optimize.add_argument("--apply", action="store_true", help="retarget pending requests to the optimal plan")
    optimize.add_argument("--limit", type=_positive, default=10_000, help="pending requests considered, in queue order")


def request_json(request: Request) -> dict[str, Any]:
    return {
        "request_id": request.id, "state": request.state, "requester": request.requester,
        "target": request.target, "task_type": request.task_type, "work_target": request.work_target,
        "priority": Priority(request.priority).name, "created_at": request.created_at.isoformat(),
        "facts": request.facts, "resources": request.resources, "classifications": request.classifications,
        "decision": request.decision, "run_id": request.run_id, "approved_by": request.approved_by,
        "attempts": request.attempts,
    }


def _line(request: Request) -> str:
    reason = ((request.decision or {}).get("reasons") or [""])[-1]
    return (f"{request.id}  {request.state:<17} {Priority(request.priority).name.lower():<9} "
            f"{request.requester} -> {request.target}  {request.task_type}  {reason}").rstrip()


def requests_command(args: argparse.Namespace, home: Home) -> int:
    delegation = Delegation(home)
    if args.action == "submit":
        request = delegation.submit(
            requester=args.requester, target=args.target, task_type=args.task_type, priority=args.priority,
            facts=parse_assignments(args.fact, "--fact"), resources=parse_assignments(args.resource, "--resource"),
        )
        emit(args, request_json(request), [f"submitted {request.id} (pending; the delegation gate decides)"])
    elif args.action == "list":
        found = delegation.store.list(states=args.state, limit=args.limit)
        emit(args, [request_json(r) for r in found], [_line(r) for r in found] or ["no requests"])
    elif args.action == "show":
        request = delegation.store.require(args.request_id)
        trail = AuditLog(delegation.store.location, backend=delegation.store.backend).entries(request.id)
        payload = {**request_json(request), "audit": [
            {"at": e.at.isoformat(), "status": e.status, "actor": e.actor, "rule": e.rule, "reasons": e.reasons}
            for e in trail]}
        lines = [_line(request)] + [f"  {e.at:%Y-%m-%d %H:%M:%S} {e.actor}: {e.status}: {'; '.join(e.reasons)}"
                                    for e in trail]
        emit(args, payload, lines)
    elif args.action == "approve":
        request = delegation.approve(args.request_id, args.by)
        emit(args, request_json(request), [f"approved {request.id} by {args.by}; the gate launches it"])
    else:
        request = delegation.reject(args.request_id, args.by, args.reason)
        emit(args, request_json(request), [f"rejected {request.id} by {args.by}"])
    return 0


def agents_command(args: argparse.Namespace, home: Home) -> int:
    roster = Delegation(home).agents()
    lines = [f"{'agent':<24} {'authority':<22} {'load':>9}  specializations"]
    lines += [f"{s.agent.id:<24} {s.agent.authority.name:<22} {s.workload:>4}/{s.agent.capacity:<4}  "
              + ", ".join(f"{k} {v:g}" for k, v in sorted(s.agent.specializations.items()))
              for s in roster]
    emit(args, [s.to_dict() for s in roster], lines)
    return 0


def optimize_command(args: argparse.Namespace, home: Home) -> int:
    delegation = Delegation(home)
    optimization = plan_pending(delegation, args.limit)
    report = optimization.report()
    c = report["comparison"]
    pct = "n/a" if c["gain_pct"] is None else f"{c['gain_pct']:+.1f}%"
    lines = [f"{report['pending']} pending requests",
             f"  optimal: {c['assigned']['optimal']} assigned, total match {c['total_match']['optimal']:g}",
             f"  greedy:  {c['assigned']['baseline']} assigned, total match {c['total_match']['baseline']:g}",
             f"  gain {c['gain']:+g} ({pct}), {len(report['moves'])} requests would change agent"]
    lines += [f"  {rid}: {m['from']} -> {m['to']}" for rid, m in report["moves"].items()]
    if args.apply:
        report["moved"] = apply_moves(delegation, optimization)
        lines.append(f"retargeted {report['moved']} pending requests")
    emit(args, report, lines)
    return 0
