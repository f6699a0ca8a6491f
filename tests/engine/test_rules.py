"""Each rule kind, executed over the fixtures, against values computed in plain Python."""

from __future__ import annotations

import datetime as dt
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


# Join kinds with a NULL key on the left (flight 1): it matches nothing, so inner/semi
# drop it, left/full/anti keep it, and a full join still takes unmatched right keys.
@pytest.mark.parametrize("how", ["inner", "left", "right", "full", "semi", "anti"])
def test_join_kinds_with_a_null_key_and_mapped_key_names(engine: Engine, tmp_path: Path, how: str) -> None:
    rules = [{"derive": {"code": "CASE WHEN id = 1 THEN NULL ELSE carrier END"}},
             {"select": ["id", "code"]},
             {"join": {"source": "warehouse/airlines", "on": {"code": "carrier"}, "how": how}}]
    keeps_right = how not in ("semi", "anti")
    columns = [("id", "INTEGER"), ("code", "VARCHAR")] + ([("name", "VARCHAR")] if keeps_right else [])
    rows = run(engine, tmp_path, rules, columns, sources=["lake/flights", "warehouse/airlines"],
               order_by="1 NULLS LAST, 2 NULLS LAST")
    names = dict(AIRLINES)
    left = [(f["id"], None if f["id"] == 1 else f["carrier"]) for f in flights_as_dicts()]
    matched = [(i, c, names[c]) for i, c in left if c is not None and c in names]
    left_only = [(i, c, None) for i, c in left if c is None or c not in names]
    right_only = [(None, c, n) for c, n in AIRLINES if c not in {c for _, c, _ in matched}]
    expected = {
        "inner": matched, "left": matched + left_only, "right": matched + right_only,
        "full": matched + left_only + right_only,
        "semi": [r[:2] for r in matched], "anti": [r[:2] for r in left_only],
    }[how]
    key = lambda r: (r[0] is None, r[0] or 0, r[1] is None, r[1] or "")  # noqa: E731
    assert rows == sorted(expected, key=key)


def test_drop(engine: Engine, tmp_path: Path) -> None:
    rules = [{"drop": ["origin", "DEP_DELAY"]}, {"derive": {"n": "1"}}]
    spec = make_spec(rules, [("id", "INTEGER")])
    plan = engine.compile(spec)
    assert plan.dropped_columns == ("carrier", "distance", "n")  # origin and dep_delay are gone earlier
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("carrier", "VARCHAR"), ("distance", "BIGINT")])
    assert rows == [(f["id"], f["carrier"], f["distance"]) for f in flights_as_dicts()]


def _first_per_key(rows: list[dict], key, order) -> list[dict]:
    """Plain-Python dedupe: per key, the row that sorts first by `order`."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [min(group, key=order) for group in groups.values()]


def test_dedupe_keeps_the_first_row_in_the_given_order(engine: Engine, tmp_path: Path) -> None:
    rules = [{"dedupe": {"keys": ["carrier"], "order": ["dep_delay DESC NULLS LAST"]}}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("id", "INTEGER")])
    # Highest delay first, NULL delays last, ties by the other columns (id first).
    kept = _first_per_key(flights_as_dicts(), lambda f: f["carrier"],
                          lambda f: (f["dep_delay"] is None, -(f["dep_delay"] or 0), f["id"]))
    assert rows == sorted((f["carrier"], f["id"]) for f in kept)
    assert dict(rows) == {"AA": 1, "B6": 6, "DL": 4, "UA": 5}


def test_dedupe_nulls_first_and_several_order_terms(engine: Engine, tmp_path: Path) -> None:
    rules = [{"dedupe": {"keys": ["carrier"], "order": ["dep_delay NULLS FIRST", "id DESC"]}}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("id", "INTEGER")])
    kept = _first_per_key(flights_as_dicts(), lambda f: f["carrier"],
                          lambda f: (f["dep_delay"] is not None, f["dep_delay"] or 0, -f["id"]))
    assert rows == sorted((f["carrier"], f["id"]) for f in kept)
    assert dict(rows)["AA"] == 2  # its NULL delay sorts first


def test_dedupe_without_order_is_deterministic(engine: Engine, tmp_path: Path) -> None:
    # The shorthand `dedupe: [keys]`; the kept row is the smallest by the other columns in order.
    rules = [{"dedupe": ["origin"]}]
    columns = [("origin", "VARCHAR"), ("id", "INTEGER")]
    kept = _first_per_key(flights_as_dicts(), lambda f: f["origin"], lambda f: f["id"])
    expected = sorted((f["origin"], f["id"]) for f in kept)
    for _ in range(3):
        assert run(engine, tmp_path, rules, columns) == expected
    # The same over the hive-partitioned copy, read file by file in parallel.
    assert run(engine, tmp_path, rules, columns, sources=["lake/by_carrier"]) == expected


def test_dedupe_groups_null_keys_together(engine: Engine, tmp_path: Path) -> None:
    rules = [{"derive": {"late": "CASE WHEN dep_delay > 5 THEN true END"}},
             {"dedupe": {"keys": ["late"], "order": ["id DESC"]}}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER")])
    late = {f["id"]: (True if f["dep_delay"] is not None and f["dep_delay"] > 5 else None) for f in flights_as_dicts()}
    kept = _first_per_key(flights_as_dicts(), lambda f: late[f["id"]], lambda f: -f["id"])
    assert rows == sorted((f["id"],) for f in kept)
    assert len(rows) == 2  # one row for true, one for all the NULLs


def test_dedupe_on_several_keys(engine: Engine, tmp_path: Path) -> None:
    rules = [{"dedupe": {"keys": ["carrier", "origin"], "order": ["distance DESC"]}}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER")])
    kept = _first_per_key(flights_as_dicts(), lambda f: (f["carrier"], f["origin"]), lambda f: -f["distance"])
    assert rows == sorted((f["id"],) for f in kept)


def test_fill_null_keeps_each_column_type(engine: Engine, tmp_path: Path) -> None:
    rules = [
        {"derive": {"day": "CASE WHEN id = 2 THEN NULL ELSE DATE '2024-01-01' + id END",
                    "flag": "CASE WHEN id > 3 THEN NULL ELSE id % 2 = 0 END",
                    "note": "CASE WHEN id % 2 = 0 THEN NULL ELSE origin END",
                    "miles": "CASE WHEN id = 3 THEN NULL ELSE distance END"}},
        {"fill_null": {"dep_delay": 0, "day": dt.date(2023, 12, 31), "flag": True,
                       "note": "it's'); DROP TABLE x; --", "miles": 7}},
    ]
    columns = [("id", "INTEGER"), ("dep_delay", "DOUBLE"), ("day", "DATE"), ("flag", "BOOLEAN"),
               ("note", "VARCHAR"), ("miles", "BIGINT")]
    rows = run(engine, tmp_path, rules, columns)
    expected = []
    for f in flights_as_dicts():
        i = f["id"]
        expected.append((
            i,
            0.0 if f["dep_delay"] is None else f["dep_delay"],
            dt.date(2023, 12, 31) if i == 2 else dt.date(2024, 1, 1) + dt.timedelta(days=i),
            True if i > 3 else i % 2 == 0,
            "it's'); DROP TABLE x; --" if i % 2 == 0 else f["origin"],  # a value, never SQL
            7 if i == 3 else f["distance"],
        ))
    assert rows == expected
