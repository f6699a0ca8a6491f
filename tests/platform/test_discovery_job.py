"""Discovery on Dagster: the discover_sources job, its schedule and the catalog_changes sensor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from datacrew_assets.definitions import build_definitions
from datacrew_assets.discovery import (
    CHANGES_SENSOR,
    DISCOVERY_JOB,
    DISCOVERY_SCHEDULE,
    catalog_state,
    decode_cursor,
    encode_cursor,
)

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home
from datacrew_resources.environment import prepare_environment


def _forget_catalog(home: Home) -> None:
    for path in home.catalog_path.parent.glob(home.catalog_path.name + "*"):
        path.unlink()


def test_job_discovers_the_sources_named_in_run_config(home: Home) -> None:
    _forget_catalog(home)
    job = build_definitions(home).resolve_job_def(DISCOVERY_JOB)

    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), run_config={"ops": {"discover": {"config": {"sources": ["share"]}}}}
    )

    assert result.success
    assert [r.key_string for r in CatalogStore(home.catalog_path).all()] == ["share/delay_reports"]
    assert result.output_for_node("discover") == {"share": 1}


def test_job_without_run_config_discovers_every_source(home: Home) -> None:
    expected = [r.key_string for r in CatalogStore(home.catalog_path).all()]
    _forget_catalog(home)

    job = build_definitions(home).resolve_job_def(DISCOVERY_JOB)

    result = job.execute_in_process(instance=dg.DagsterInstance.get())

    assert result.success
    assert [r.key_string for r in CatalogStore(home.catalog_path).all()] == expected
    assert sorted(result.output_for_node("discover")) == ["lake", "landing", "share", "warehouse"]


def test_job_with_an_unknown_source_fails_and_keeps_the_catalog(home: Home) -> None:
    before = CatalogStore(home.catalog_path).all()
    job = build_definitions(home).resolve_job_def(DISCOVERY_JOB)

    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        run_config={"ops": {"discover": {"config": {"sources": ["nowhere"]}}}},
        raise_on_error=False,
    )

    assert not result.success
    failure = result.failure_data_for_node("discover").error
    assert "sources: 'nowhere': no such source (known: lake, warehouse, share, landing)" in failure.message
    assert CatalogStore(home.catalog_path).all() == before


def test_schedule_is_hourly_stopped_and_runs_the_job_on_every_source(home: Home) -> None:
    schedule = build_definitions(home).resolve_schedule_def(DISCOVERY_SCHEDULE)

    tick = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 24, 15, tzinfo=UTC))
    )

    assert schedule.cron_schedule == "0 * * * *"
    assert schedule.job_name == DISCOVERY_JOB
    assert schedule.default_status is dg.DefaultScheduleStatus.STOPPED
    assert [request.run_config for request in tick.run_requests] == [{}]


# A home of one file share whose CSV files the tests add and rewrite.


def _write_csv(share: Path, name: str, header: str, *rows: str) -> None:
    (share / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture
def share_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    share = tmp_path / "sources" / "share"
    share.mkdir(parents=True)
    _write_csv(share, "carriers", "carrier,name", "UA,United", "AA,American")
    _write_csv(share, "delays", "flight,minutes", "1,5", "2,7", "3,0")
    home = Home(tmp_path)
    config = {"sources": [{"name": "share", "type": "file_systems", "uri": "sources/share", "owner": "team:ops"}]}
    home.config_path.write_text(yaml.safe_dump(config))
    prepare_environment(home)
    discover(home, home.load_config())
    return home


def _tick(home: Home, cursor: str | None) -> dg.SensorResult:
    """One evaluation of the sensor as the daemon runs it (its events are not stored here)."""
    sensor = build_definitions(home).resolve_sensor_def(CHANGES_SENSOR)
    return sensor.evaluate_tick(dg.build_sensor_context(instance=dg.DagsterInstance.get(), cursor=cursor))


def _observed(tick) -> dict[str, dict]:
    return {"/".join(e.asset_key.path): e.metadata for e in tick.asset_events}


def test_sensor_is_running_by_default_every_minute(share_home: Home) -> None:
    sensor = build_definitions(share_home).resolve_sensor_def(CHANGES_SENSOR)

    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 60


def test_first_tick_observes_every_dataset_as_new(share_home: Home) -> None:
    tick = _tick(share_home, None)

    observed = _observed(tick)
    assert sorted(observed) == ["share/carriers", "share/delays"]
    delays = observed["share/delays"]
    assert delays["dagster/row_count"].value == 3
    assert [(c.name, c.type) for c in delays["dagster/column_schema"].schema.columns] == [
        ("flight", "BIGINT"), ("minutes", "BIGINT"),
    ]
    record = CatalogStore(share_home.catalog_path).get("share/delays")
    assert delays["dagster/last_updated_timestamp"].value == record.last_updated.timestamp()
    assert delays["datacrew/size_bytes"].value == record.size_bytes == len("flight,minutes\n1,5\n2,7\n3,0\n")
    assert delays["datacrew/change"].value == "new"
    assert "datacrew/schema_change" not in delays


def test_cursor_is_stable_when_nothing_changed(share_home: Home) -> None:
    first = _tick(share_home, None)
    discover(share_home, share_home.load_config())  # a rescan that finds nothing new

    second = _tick(share_home, first.cursor)

    assert second.asset_events == []
    assert second.cursor == first.cursor
    assert second.skip_message == "no new or changed datasets in the catalog"


def test_only_new_and_changed_datasets_are_observed_with_their_schema_change(share_home: Home) -> None:
    first = _tick(share_home, None)
    share = share_home.root / "sources" / "share"
    _write_csv(share, "delays", "flight,minutes,reason", "1,5.5,weather", "2,7.0,crew")  # added, retyped
    _write_csv(share, "routes", "origin,dest", "EWR,IAH")  # new
    discover(share_home, share_home.load_config())

    second = _tick(share_home, first.cursor)

    observed = _observed(second)
    assert sorted(observed) == ["share/delays", "share/routes"]
    assert observed["share/routes"]["datacrew/change"].value == "new"
    assert observed["share/delays"]["datacrew/change"].value == "changed"
    assert observed["share/delays"]["dagster/row_count"].value == 2
    assert observed["share/delays"]["datacrew/schema_change"].value == {
        "added": ["reason"],
        "removed": [],
        "retyped": [{"column": "minutes", "from": "BIGINT", "to": "DOUBLE"}],
    }
    assert _tick(share_home, second.cursor).asset_events == []


def test_a_removed_column_and_a_removed_dataset(share_home: Home) -> None:
    first = _tick(share_home, None)
    share = share_home.root / "sources" / "share"
    _write_csv(share, "delays", "flight", "1", "2", "3")
    (share / "carriers.csv").unlink()
    discover(share_home, share_home.load_config())

    second = _tick(share_home, first.cursor)

    assert _observed(second)["share/delays"]["datacrew/schema_change"].value == {
        "added": [], "removed": ["minutes"], "retyped": [],
    }
    assert sorted(_observed(second)) == ["share/delays"]
    # The removed dataset leaves the cursor: were it found again, it would be new.
    assert second.cursor == encode_cursor(catalog_state(CatalogStore(share_home.catalog_path).all()))


def test_a_new_dataset_is_observed_before_the_code_location_defines_it(share_home: Home) -> None:
    """What the daemon does with the sensor's events, and when the asset node appears."""
    instance = dg.DagsterInstance.get()
    loaded = build_definitions(share_home)  # the code location as loaded before the dataset exists
    first = _tick(share_home, None)
    _write_csv(share_home.root / "sources" / "share", "routes", "origin,dest", "EWR,IAH", "JFK,LAX")
    discover(share_home, share_home.load_config())

    tick = loaded.resolve_sensor_def(CHANGES_SENSOR).evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    for event in tick.asset_events:  # as the sensor daemon stores them
        instance.report_runless_asset_event(event)

    routes = dg.AssetKey(["share", "routes"])
    observations = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=routes), limit=5).records
    assert [r.asset_observation.metadata["dagster/row_count"].value for r in observations] == [2]
    assert routes in instance.get_asset_keys()
    assert not loaded.resolve_asset_graph().has(routes)
    # Loading the code location again (Reload definitions) declares it.
    assert build_definitions(share_home).resolve_asset_graph().has(routes)


def test_cursor_round_trips_the_catalog_state(share_home: Home) -> None:
    state = decode_cursor(_tick(share_home, None).cursor)

    assert sorted(state) == ["share/carriers", "share/delays"]
    assert state["share/carriers"]["columns"] == [["carrier", "VARCHAR"], ["name", "VARCHAR"]]
    assert state == catalog_state(CatalogStore(share_home.catalog_path).all())
