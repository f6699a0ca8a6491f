"""A real crew run through Dagster, over the real engine, with the socket layer closed."""

from __future__ import annotations

import socket

import dagster as dg
import pytest

from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB


@pytest.fixture
def closed_network(monkeypatch) -> list[str]:
    """Every attempt to resolve or connect is recorded and refused."""
    attempts: list[str] = []

    def refuse(name: str):
        def _refuse(*args, **kwargs):
            attempts.append(f"{name}{args[1:] if name.startswith('socket.') else args}")
            raise OSError(f"network closed by test: {name}")
        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


def test_materializing_through_the_crew_makes_no_network_connection(home, closed_network):
    job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        asset_selection=[dg.AssetKey(["transformed", "flights_clean"]), dg.AssetKey(["transformed", "daily_summary"])],
        raise_on_error=False,
    )
    assert result.success
    rows = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert rows == {"transformed/flights_clean": 327_346, "transformed/daily_summary": 365}
    assert closed_network == []
