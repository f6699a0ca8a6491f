"""The `sql` rule: one guarded SELECT over the spec's sources and `previous` (the rules so far)."""

from __future__ import annotations

from pathlib import Path

from datacrew_resources.engine import Engine

from .helpers import AIRLINES, flights_as_dicts
from .test_rules import run

BOTH = ["lake/flights", "warehouse/airlines"]


def test_first_rule_previous_is_the_first_source(engine: Engine, tmp_path: Path) -> None:
    rules = [{"sql": "SELECT carrier, count(*) AS n, sum(distance) AS miles FROM previous GROUP BY carrier"}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("n", "BIGINT"), ("miles", "BIGINT")])
    flights = flights_as_dicts()
    carriers = sorted({f["carrier"] for f in flights})
    assert rows == [(c, sum(1 for f in flights if f["carrier"] == c),
                     sum(f["distance"] for f in flights if f["carrier"] == c)) for c in carriers]


def test_previous_is_the_relation_after_the_rules_before(engine: Engine, tmp_path: Path) -> None:
    rules = [
        {"filter": "dep_delay IS NOT NULL"},
        {"derive": {"km": "distance * 1.6"}},
        {"sql": 'SELECT previous.id, previous.km, a.name FROM previous '
                'JOIN "warehouse/airlines" AS a ON a.carrier = previous.carrier WHERE previous.km > 100'},
        {"derive": {"label": "name || '#' || id"}},  # rules after it see its columns
    ]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("km", "DOUBLE"), ("label", "VARCHAR")], sources=BOTH)
    names = dict(AIRLINES)
    expected = [(f["id"], f["distance"] * 1.6, f"{names[f['carrier']]}#{f['id']}") for f in flights_as_dicts()
                if f["dep_delay"] is not None and f["carrier"] in names and f["distance"] * 1.6 > 100]
    assert rows == expected


def test_own_ctes_union_and_subqueries_may_use_previous(engine: Engine, tmp_path: Path) -> None:
    sql = (
        "WITH late AS (SELECT id, 'late' AS kind FROM previous WHERE dep_delay > 5), "
        "source AS (SELECT id, 'early' AS kind FROM previous WHERE dep_delay <= 5) "  # shadows an internal name
        "SELECT * FROM late UNION ALL SELECT * FROM source "
        "UNION ALL SELECT id, 'unknown' FROM previous WHERE id NOT IN (SELECT id FROM late UNION SELECT id FROM source)"
    )
    rows = run(engine, tmp_path, [{"filter": "id > 1"}, {"sql": sql}], [("id", "INTEGER"), ("kind", "VARCHAR")])
    def kind(f):
        return "unknown" if f["dep_delay"] is None else "late" if f["dep_delay"] > 5 else "early"
    assert rows == [(f["id"], kind(f)) for f in flights_as_dicts() if f["id"] > 1]


def test_a_sql_rule_can_replace_the_relation_outright(engine: Engine, tmp_path: Path) -> None:
    rules = [{"filter": "id = 1"}, {"sql": 'SELECT carrier, upper(name) AS name FROM "warehouse/airlines"'}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("name", "VARCHAR")], sources=BOTH)
    assert rows == sorted((c, n.upper()) for c, n in AIRLINES)


def test_consecutive_sql_rules_each_see_the_one_before(engine: Engine, tmp_path: Path) -> None:
    rules = [{"sql": "SELECT id, distance * 2 AS d FROM previous"},
             {"sql": "SELECT id, d + 1 AS d FROM previous WHERE d > 200"},
             {"sql": "SELECT id, d, (SELECT count(*) FROM previous) AS n FROM previous"}]
    rows = run(engine, tmp_path, rules, [("id", "INTEGER"), ("d", "BIGINT"), ("n", "BIGINT")])
    kept = [(f["id"], f["distance"] * 2 + 1) for f in flights_as_dicts() if f["distance"] * 2 > 200]
    assert rows == [(i, d, len(kept)) for i, d in kept]


def test_window_functions_and_qualify(engine: Engine, tmp_path: Path) -> None:
    rules = [{"sql": "SELECT carrier, id, rank() OVER (PARTITION BY carrier ORDER BY distance DESC) AS r "
                     "FROM previous QUALIFY r = 1"}]
    rows = run(engine, tmp_path, rules, [("carrier", "VARCHAR"), ("id", "INTEGER"), ("r", "BIGINT")])
    best: dict[str, dict] = {}
    for f in flights_as_dicts():
        if f["carrier"] not in best or f["distance"] > best[f["carrier"]]["distance"]:
            best[f["carrier"]] = f
    assert rows == sorted((c, f["id"], 1) for c, f in best.items())
