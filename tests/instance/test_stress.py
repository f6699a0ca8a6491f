"""Issue 9's stress: 50 delegation requests submitted at once become 50 concurrent runs on a
PostgreSQL-backed home (Dagster's storage, catalog and control plane), launched by the real
gate sensor; none is lost, none launched twice, and no storage error appears anywhere.

The load is `bench.stress_bench`'s (its SQLite counterpart is measured there and in
BENCHMARKS.md): each run request the gate returns starts at once in its own process, as a
run worker would.
"""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest

from bench.stress_bench import AGENT, MATERIALIZED, measure, stress_home
from datacrew_resources.delegation.audit import AuditLog
from datacrew_resources.delegation.service import Delegation

RUNS = 50
HANG_GUARD_SECONDS = 600  # a guard against a hung run, not a speed target


@pytest.mark.slow
def test_fifty_concurrent_delegated_runs_on_postgres(tmp_path, demo_sources, postgres_database, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = stress_home(tmp_path, demo_sources, RUNS, postgres_database)

    result = measure(home, "postgres", RUNS, HANG_GUARD_SECONDS)

    assert not result.timed_out
    assert result.failures == []  # no "database is locked", no error of any kind, in runs or gate ticks
    assert result.request_states == {"succeeded": RUNS}
    store = Delegation(home).store
    requests = store.list(limit=10 * RUNS)
    ids = {r.id for r in requests}
    assert len(ids) == RUNS
    # Launched exactly once: one run per request, carrying its id as run key, bound to it.
    assert result.runs_per_request == dict.fromkeys(ids, 1)
    assert result.run_statuses == {"SUCCESS": RUNS}
    with dg.DagsterInstance.get() as instance:
        runs = {run.tags["datacrew/request"]: run for run in instance.get_runs()}
        materialized = instance.fetch_materializations(MATERIALIZED, limit=10 * RUNS).records
    assert {r.id: r.run_id for r in requests} == {rid: run.run_id for rid, run in runs.items()}
    assert all(run.tags["dagster/run_key"] == rid and run.tags["datacrew/agent"] == AGENT
               for rid, run in runs.items())
    # Every run's materialization is recorded, each worked as the request it was launched for.
    assert len(materialized) == RUNS
    assert Counter(m.asset_materialization.metadata["datacrew/request"].value for m in materialized) == \
        Counter(dict.fromkeys(ids, 1))
    # The audit log: the gate allowed each request once, and the ledger closed each once.
    entries = AuditLog(store.location, backend=store.backend).entries()
    assert Counter((e.request_id, e.status) for e in entries if e.status in ("allowed", "succeeded")) == \
        Counter({**{(rid, "allowed"): 1 for rid in ids}, **{(rid, "succeeded"): 1 for rid in ids}})
    assert result.latency_p50 is not None and result.latency_p95 >= result.latency_p50 > 0
