"""normalize over messy customer data, against values computed in plain Python."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, stdev

import duckdb
import pytest

from datacrew_resources.engine import Engine, SourceRef

from .helpers import make_spec, read_rows, write_table

COLUMNS = "id INTEGER, name VARCHAR, country VARCHAR, spend DOUBLE, visits INTEGER, score BIGINT"
CUSTOMERS = [
    (1, "  Alice ", "usa", 10.0, 3, None),
    (2, "BOB", " U.S.A. ", 20.0, 3, None),
    (3, "carol", "United States", None, 3, None),
    (4, None, "Canada ", 40.0, 3, None),
    (5, "Dave", "CA", 40.0, 3, None),
    (6, "eve  ", None, 15.5, 3, None),
    (7, "Frank", "Mexico", -5.0, 3, None),
    (8, "\tGus", " mexico", 0.25, 3, None),
]
KEYS = ("id", "name", "country", "spend", "visits", "score")
COUNTRIES = {"United States": ["usa", "U.S.A."], "Canada": ["ca"]}


def customers() -> list[dict]:
    return [dict(zip(KEYS, row)) for row in CUSTOMERS]


@pytest.fixture
def crm(lake: dict[str, SourceRef], tmp_path: Path) -> Engine:
    path = tmp_path / "data" / "customers.parquet"
    with duckdb.connect() as con:
        write_table(con, "customers", COLUMNS, CUSTOMERS)
        con.execute(f"COPY customers TO '{path}' (FORMAT parquet)")
    sources = {**lake, "crm/customers": SourceRef("crm/customers", "parquet", str(path))}
    return Engine(sources, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")


def run(engine: Engine, tmp_path: Path, rules: list, columns: list) -> list[tuple]:
    spec = make_spec(rules, columns, sources=["crm/customers"])
    plan = engine.compile(spec)
    result = engine.execute(spec, plan, tmp_path / "out" / "t.parquet")
    return read_rows(Path(result.output_path), "id")


def space_trim(text: str | None) -> str | None:
    """DuckDB's trim: spaces only (a tab stays)."""
    return None if text is None else text.strip(" ")


def test_trim_and_case(crm: Engine, tmp_path: Path) -> None:
    rules = [{"normalize": {"trim": ["name", "country"], "upper": ["name"], "lower": ["country"]}}]
    rows = run(crm, tmp_path, rules, [("id", "INTEGER"), ("name", "VARCHAR"), ("country", "VARCHAR")])
    expected = [(c["id"], None if c["name"] is None else space_trim(c["name"]).upper(),
                 None if c["country"] is None else space_trim(c["country"]).lower()) for c in customers()]
    assert rows == expected
    assert rows[7][1] == "\tGUS"


def categorise(value: str | None, mapping: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    folded = {v.strip(" ").lower(): canonical for canonical, vs in mapping.items() for v in [canonical, *vs]}
    return folded.get(value.strip(" ").lower(), value)


def test_categories_match_after_trim_case_insensitively_and_keep_the_rest(crm: Engine, tmp_path: Path) -> None:
    rows = run(crm, tmp_path, [{"normalize": {"categories": {"country": COUNTRIES}}}],
               [("id", "INTEGER"), ("country", "VARCHAR")])
    assert rows == [(c["id"], categorise(c["country"], COUNTRIES)) for c in customers()]
    assert [r[1] for r in rows] == ["United States", "United States", "United States", "Canada", "Canada", None,
                                    "Mexico", " mexico"]  # unmatched values are left exactly as they were


def test_categories_apply_after_this_rules_trim_and_case(crm: Engine, tmp_path: Path) -> None:
    rules = [{"normalize": {"trim": ["country"], "upper": ["country"], "categories": {"country": COUNTRIES}}}]
    rows = run(crm, tmp_path, rules, [("id", "INTEGER"), ("country", "VARCHAR")])
    expected = [categorise(None if c["country"] is None else space_trim(c["country"]).upper(), COUNTRIES)
                for c in customers()]
    assert [r[1] for r in rows] == expected
    assert expected[-2:] == ["MEXICO", "MEXICO"]


def min_max(values: list[float | None]) -> list[float | None]:
    present = [v for v in values if v is not None]
    low, high = min(present), max(present)
    return [None if v is None else 0.0 if high == low else (v - low) / (high - low) for v in values]


def z_scores(values: list[float | None]) -> list[float | None]:
    present = [float(v) for v in values if v is not None]
    mu = mean(present)
    sd = stdev(present) if len(present) > 1 else 0.0
    return [None if v is None else 0.0 if sd == 0 else (v - mu) / sd for v in values]


def test_min_max_and_z_score_over_the_whole_relation(crm: Engine, tmp_path: Path) -> None:
    rules = [{"derive": {"spend_z": "spend"}}, {"normalize": {"min_max": ["spend"], "z_score": ["spend_z"]}}]
    spec = make_spec(rules, [("id", "INTEGER"), ("spend", "DOUBLE"), ("spend_z", "DOUBLE")],
                     sources=["crm/customers"])
    rows = run(crm, tmp_path, rules, [("id", "INTEGER"), ("spend", "DOUBLE"), ("spend_z", "DOUBLE")])
    spend = [c["spend"] for c in customers()]
    assert [r[1] for r in rows] == min_max(spend)  # exact: the same double operations
    expected_z = z_scores(spend)
    assert [r[2] is None for r in rows] == [z is None for z in expected_z]
    assert [r[2] for r in rows if r[2] is not None] == pytest.approx([z for z in expected_z if z is not None],
                                                                    rel=1e-12)
    assert min(r[1] for r in rows if r[1] is not None) == 0.0 and max(r[1] for r in rows if r[1] is not None) == 1.0
    assert rows[2][1:] == (None, None)  # NULL stays NULL
    assert crm.compile(spec).conversions == {}  # both are DOUBLE already


def test_scaling_sees_the_relation_after_the_rules_before_it(crm: Engine, tmp_path: Path) -> None:
    rules = [{"filter": "spend >= 10"}, {"normalize": {"min_max": ["spend"]}}]
    rows = run(crm, tmp_path, rules, [("id", "INTEGER"), ("spend", "DOUBLE")])
    kept = [c for c in customers() if c["spend"] is not None and c["spend"] >= 10]
    assert rows == list(zip([c["id"] for c in kept], min_max([c["spend"] for c in kept])))


def test_zero_or_undefined_spread_scales_to_zero(crm: Engine, tmp_path: Path) -> None:
    # visits is constant (max = min, stddev 0); after the filter spend has one value
    # (stddev_samp NULL); score is all NULL (stays NULL). Integer columns become DOUBLE.
    rules = [{"derive": {"visits_z": "visits", "spend_z": "spend", "score_z": "score"}},
             {"normalize": {"min_max": ["visits", "spend", "score"], "z_score": ["visits_z", "spend_z", "score_z"]}}]
    columns = [("id", "INTEGER"), ("visits", "DOUBLE"), ("visits_z", "DOUBLE"), ("spend", "DOUBLE"),
               ("spend_z", "DOUBLE"), ("score", "DOUBLE"), ("score_z", "DOUBLE")]
    rows = run(crm, tmp_path, rules, columns)
    assert {r[1:3] for r in rows} == {(0.0, 0.0)}
    assert {r[5:] for r in rows} == {(None, None)}
    rows = run(crm, tmp_path, [{"filter": "id = 2"}] + rules, columns)
    assert rows == [(2, 0.0, 0.0, 0.0, 0.0, None, None)]
    spec = make_spec(rules, columns, sources=["crm/customers"])
    assert crm.compile(spec).conversions == {}  # scaled columns are DOUBLE, not a cast back
