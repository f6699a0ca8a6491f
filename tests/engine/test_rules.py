"""Each rule kind, executed over the fixtures, against values computed in plain Python."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest

from datacrew_resources.engine import Engine

from .helpers import AIRLINES, FLIGHTS, flights_as_dicts, make_spec, read_rows


def run(engine: Engine, tmp_path: Path, rules: list, columns: list, *, sources=None, order_by: str = "1") -> list[tuple]:
    spec = make_spec(rules, columns, sources=sources)
    result = engine.execute(spec, engine.compile(spec), tmp_path / "out" / "t.parquet")
    rows = read_rows(Path(result.output_path), order_by)
    assert result.record_count == len(rows)
    return rows


def test_filter(engine: Engine, tmp_path: Path) -> None:
    rows = run(engine, tmp_path, [{"filter": "dep_delay > 2"}], [("id", "INTEGER")])
    assert rows == [(f["id"],) for f in flights_as_dicts() if f["dep_delay"] is not None and f["dep_delay"] > 2]


def test_derive_adds_and_replaces_in_order(engine: Engine, tmp_path: Path) -> None:
    rules = [{"derive": {"km": "distance * 1.5", "distance": "distance + 1", "twice": "km * 2"}}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("distance", "BIGINT"), ("km", "DOUBLE"),
                                         ("twice", "DOUBLE")])
    assert rows == [(f["id"], f["distance"] + 1, f["distance"] * 1.5, f["distance"] * 3.0) for f in flights_as_dicts()]


def test_select_and_rename(engine: Engine, tmp_path: Path) -> None:
    rules = [{"select": ["carrier", "id"]}, {"rename": {"carrier": "airline"}}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("airline", "VARCHAR")])
    assert rows == [(f["id"], f["carrier"]) for f in flights_as_dicts()]


def test_cast(engine: Engine, tmp_path: Path) -> None:
    rows = run(engine, tmp_path, [{"cast": {"distance": "VARCHAR", "id": "DOUBLE"}}],
               [("id", "DOUBLE"), ("distance", "VARCHAR")])
    assert rows == [(float(f["id"]), str(f["distance"])) for f in flights_as_dicts()]


def test_group_by_aggregate(engine: Engine, tmp_path: Path) -> None:
    rules = [{"group_by": ["carrier"]},
             {"aggregate": {"flights": "count(*)", "total": "sum(distance)", "avg_delay": "avg(dep_delay)"}}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("flights", "BIGINT"), ("total", "BIGINT"),
                                         ("avg_delay", "DOUBLE")])
    expected = []
    for carrier in sorted({f["carrier"] for f in flights_as_dicts()}):
        group = [f for f in flights_as_dicts() if f["carrier"] == carrier]
        delays = [f["dep_delay"] for f in group if f["dep_delay"] is not None]
        expected.append((carrier, len(group), sum(f["distance"] for f in group), mean(delays)))
    assert rows == expected


def test_global_aggregate(engine: Engine, tmp_path: Path) -> None:
    rows = run(engine, tmp_path, [{"aggregate": {"n": "count(*)", "longest": "max(distance)"}}],
               [("n", "BIGINT"), ("longest", "BIGINT")])
    assert rows == [(len(FLIGHTS), max(f[4] for f in FLIGHTS))]


@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join_kinds_against_the_warehouse(engine: Engine, tmp_path: Path, how: str) -> None:
    keeps_right = how not in ("semi", "anti")
    columns = [("carrier", "VARCHAR"), ("id", "INTEGER")] + ([("name", "VARCHAR")] if keeps_right else [])
    rows = run(engine, tmp_path, [{"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": how}}],
               columns, sources=["lake/flights", "warehouse/airlines"], order_by="1, 2")
    names = dict(AIRLINES)
    flights = flights_as_dicts()
    matched = [(f["carrier"], f["id"], names[f["carrier"]]) for f in flights if f["carrier"] in names]
    left_only = [(f["carrier"], f["id"], None) for f in flights if f["carrier"] not in names]
    flown = {f["carrier"] for f in flights}
    right_only = [(c, None, n) for c, n in AIRLINES if c not in flown]
    expected = {
        "inner": matched, "left": matched + left_only, "right": matched + right_only,
        "full": matched + left_only + right_only,
        "semi": [r[:2] for r in matched], "anti": [r[:2] for r in left_only],
    }[how]
    key = lambda r: (r[0], r[1] if r[1] is not None else -1)  # noqa: E731
    assert sorted(rows, key=key) == sorted(expected, key=key)


def test_join_with_key_mapping_columns_and_prefix(engine: Engine, tmp_path: Path) -> None:
    rules = [{"rename": {"carrier": "code"}},
             {"join": {"source": "files/airlines_csv", "on": {"code": "carrier"}, "columns": ["name"],
                       "prefix": "airline_"}}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("code", "VARCHAR"), ("airline_name", "VARCHAR")],
               sources=["lake/flights", "files/airlines_csv"])
    names = dict(AIRLINES)
    assert rows == [(f["id"], f["carrier"], names[f["carrier"]]) for f in flights_as_dicts() if f["carrier"] in names]


def test_json_and_hive_partitioned_sources(engine: Engine, tmp_path: Path) -> None:
    rows = run(engine, tmp_path, [], [("carrier", "VARCHAR"), ("name", "VARCHAR")],
               sources=["files/airlines_json"])
    assert rows == sorted(AIRLINES)
    rows = run(engine, tmp_path, [{"group_by": ["carrier"]}, {"aggregate": {"n": "count(*)"}}],
               [("carrier", "VARCHAR"), ("n", "BIGINT")], sources=["lake/by_carrier"])
    assert dict(rows) == {c: sum(1 for f in FLIGHTS if f[1] == c) for c in {f[1] for f in FLIGHTS}}


def test_inspect(engine: Engine) -> None:
    info = engine.inspect("lake/flights")
    assert [c["name"] for c in info["columns"]] == ["id", "carrier", "origin", "dep_delay", "distance"]
    assert info["row_count"] == len(FLIGHTS)
    assert info["sample_rows"][0] == flights_as_dicts()[0]
    assert len(info["sample_rows"]) == 5
