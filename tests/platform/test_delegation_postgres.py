"""The whole gate with the control plane in PostgreSQL (`DATACREW_CONTROL_URL`)."""

from __future__ import annotations

import dagster as dg
import psycopg

from datacrew_assets.cli import main
from datacrew_resources.delegation.service import CONTROL_URL_ENV, Delegation

from .delegation_helpers import submit_coordinated, tick


def test_gate_cli_and_audit_on_postgres(home, postgres_url, monkeypatch, capsys):
    monkeypatch.setenv(CONTROL_URL_ENV, postgres_url)
    allowed = submit_coordinated(home)
    escalated = submit_coordinated(home, facts={"stage_scope": True, "data_quality_threshold": 0.2})
    with dg.instance_for_test(temp_dir=str(home.dagster_home)) as instance:
        result = tick(home, instance)
    assert [r.run_key for r in result.run_requests] == [allowed.id]
    assert main(["requests", "approve", escalated.id, "--by", "dana", "--home", str(home.root)]) == 0
    capsys.readouterr()

    # Nothing went to the home's SQLite file; the rows are in the PostgreSQL schema.
    assert not (home.state_dir / "control.sqlite").exists()
    with psycopg.connect(postgres_url) as con:
        states = dict(con.execute("SELECT id, state FROM delegation_requests").fetchall())
        trail = con.execute("SELECT request_id, status, actor FROM delegation_audit ORDER BY seq").fetchall()
    assert states == {allowed.id: "launched", escalated.id: "approved"}
    assert trail == [(allowed.id, "allowed", "gate"), (escalated.id, "escalated", "gate"),
                     (escalated.id, "approved_on_escalation", "dana")]
    assert Delegation(home).workload() == {"etl-developer-1": 1}
