"""A home whose datacrew.yaml puts Dagster's storage in PostgreSQL: the generated instance runs a
real transformation, and the run, its materialization and its warehouse pool are rows there."""

from __future__ import annotations

import dagster as dg
import dagster_postgres
import psycopg

from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.catalog.discover import discover
from datacrew_resources.environment import prepare_environment

from .conftest import set_section

PLANES = dg.AssetKey(["transformed", "planes"])


def test_a_transformation_runs_on_the_generated_postgres_instance(demo_home, postgres_database):
    set_section(demo_home, "instance", {"storage_url": postgres_database})
    prepare_environment(demo_home)  # what every datacrew command does: writes $DAGSTER_HOME/dagster.yaml
    discover(demo_home, demo_home.load_config())

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, dagster_postgres.PostgresRunStorage)
        assert isinstance(instance.event_log_storage, dagster_postgres.PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, dagster_postgres.PostgresScheduleStorage)
        job = build_definitions(demo_home).resolve_job_def(TRANSFORM_JOB)
        result = job.execute_in_process(instance=instance, asset_selection=[PLANES])
        assert result.success
        run_id = result.run_id
        assert instance.get_latest_materialization_event(PLANES).run_id == run_id

    with psycopg.connect(postgres_database) as con:
        runs = con.execute("SELECT run_id, status, pipeline_name FROM runs").fetchall()
        materialized = con.execute(
            "SELECT run_id, asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchall()
        # The warehouse writer's step took a slot of its file's pool, created at size one.
        pools = con.execute('SELECT concurrency_key, "limit" FROM concurrency_limits').fetchall()
        tables = {row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
    assert runs == [(run_id, "SUCCESS", TRANSFORM_JOB)]
    assert materialized == [(run_id, '["transformed", "planes"]')]
    assert pools == [("datacrew/warehouse:warehouse.duckdb", 1)]
    assert {"runs", "event_logs", "instigators", "job_ticks"} <= tables  # schedules and sensors too
    # Nothing went to SQLite files in DAGSTER_HOME.
    assert not list(demo_home.dagster_home.glob("**/*.db"))
