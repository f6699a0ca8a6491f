"""A real crew run through Dagster, over the real engine, with the socket layer closed."""

from __future__ import annotations

import dagster as dg

from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB


def test_materializing_through_the_crew_makes_no_network_connection(home, network_attempts):
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
    assert network_attempts == []
