"""One spec file per transformation type, loaded and run end to end, against plain Python."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, stdev

import pytest

from datacrew_resources.config.spec import TransformationType, load_spec
from datacrew_resources.engine import Engine

from .helpers import AIRLINES, flights_as_dicts, read_rows

SPECS = {
    "etl": """
name: flights_clean
type: etl
sources: [lake/flights]
rules:
  - filter: dep_delay IS NOT NULL
  - derive: {delay_hours: "dep_delay / 60", long_haul: "distance >= 200"}
  - rename: {origin: airport}
  - cast: {id: BIGINT}
  - select: [id, airport, delay_hours, long_haul]
target_schema:
  columns:
    - {name: id, type: BIGINT, nullable: false, primary_key: true}
    - {name: airport, type: VARCHAR}
    - {name: delay_hours, type: DOUBLE}
    - {name: long_haul, type: BOOLEAN}
""",
    "aggregation": """
name: delays_by_carrier
type: aggregation
sources: [lake/flights, warehouse/airlines]
rules:
  - filter: dep_delay IS NOT NULL
  - join: {source: warehouse/airlines, on: [carrier], how: inner}
  - group_by: [carrier, name]
  - aggregate: {flights: count(*), avg_dep_delay: avg(dep_delay), miles: sum(distance)}
target_schema:
  columns:
    - {name: carrier, type: VARCHAR, nullable: false, primary_key: true}
    - {name: name, type: VARCHAR, nullable: false}
    - {name: flights, type: BIGINT, min: 0}
    - {name: avg_dep_delay, type: DOUBLE}
    - {name: miles, type: BIGINT}
""",
    "join": """
name: flights_with_airline
type: join
sources: [lake/flights, files/airlines_csv]
rules:
  - join: {source: files/airlines_csv, on: [carrier], how: left, columns: [name], prefix: airline_}
target_schema:
  columns:
    - {name: id, type: INTEGER, primary_key: true}
    - {name: carrier, type: VARCHAR}
    - {name: airline_name, type: VARCHAR}
""",
    "enrichment": """
name: flights_enriched
type: enrichment
sources: [lake/flights, warehouse/airlines]
rules:
  - join: {source: warehouse/airlines, on: [carrier], how: left}
  - fill_null: {name: Unknown}
  - derive:
      delay_band: "CASE WHEN dep_delay IS NULL THEN 'n/a' WHEN dep_delay > 5 THEN 'late' ELSE 'on time' END"
  - sql: >-
      SELECT *, distance / sum(distance) OVER (PARTITION BY carrier) AS carrier_share
      FROM previous
target_schema:
  columns:
    - {name: id, type: INTEGER, primary_key: true}
    - {name: name, type: VARCHAR, nullable: false}
    - {name: delay_band, type: VARCHAR, accepted_values: [n/a, late, on time]}
    - {name: carrier_share, type: DOUBLE, min: 0, max: 1}
""",
    "cleansing": """
name: flights_deduped
type: cleansing
sources: [lake/flights]
rules:
  - fill_null: {dep_delay: 0}
  - derive: {carrier: "'  ' || lower(carrier) || ' '"}
  - normalize: {trim: [carrier], upper: [carrier]}
  - dedupe: {keys: [carrier], order: [distance DESC]}
  - drop: [origin]
target_schema:
  columns:
    - {name: carrier, type: VARCHAR, nullable: false, primary_key: true}
    - {name: id, type: INTEGER}
    - {name: dep_delay, type: DOUBLE, nullable: false}
""",
    "normalization": """
name: flights_scaled
type: normalization
sources: [lake/flights]
rules:
  - normalize:
      lower: [carrier]
      categories: {origin: {NYC: [jfk, lga], New Jersey: [ewr]}}
      min_max: [distance]
      z_score: [dep_delay]
target_schema:
  columns:
    - {name: id, type: INTEGER, primary_key: true}
    - {name: carrier, type: VARCHAR}
    - {name: origin, type: VARCHAR, accepted_values: [NYC, New Jersey]}
    - {name: distance, type: DOUBLE, min: 0, max: 1}
    - {name: dep_delay, type: DOUBLE}
""",
}


def expected_etl() -> list[tuple]:
    return [(f["id"], f["origin"], f["dep_delay"] / 60, f["distance"] >= 200)
            for f in flights_as_dicts() if f["dep_delay"] is not None]


def expected_aggregation() -> list[tuple]:
    names = dict(AIRLINES)
    kept = [f for f in flights_as_dicts() if f["dep_delay"] is not None and f["carrier"] in names]
    rows = []
    for carrier in sorted({f["carrier"] for f in kept}):
        group = [f for f in kept if f["carrier"] == carrier]
        rows.append((carrier, names[carrier], len(group), mean(f["dep_delay"] for f in group),
                     sum(f["distance"] for f in group)))
    return rows


def expected_join() -> list[tuple]:
    names = dict(AIRLINES)
    return [(f["id"], f["carrier"], names.get(f["carrier"])) for f in flights_as_dicts()]


def expected_enrichment() -> list[tuple]:
    names = dict(AIRLINES)
    flights = flights_as_dicts()
    totals = {c: sum(f["distance"] for f in flights if f["carrier"] == c) for c in {f["carrier"] for f in flights}}
    def band(delay):
        return "n/a" if delay is None else "late" if delay > 5 else "on time"
    return [(f["id"], names.get(f["carrier"], "Unknown"), band(f["dep_delay"]), f["distance"] / totals[f["carrier"]])
            for f in flights]


def expected_cleansing() -> list[tuple]:
    best: dict[str, dict] = {}
    for f in flights_as_dicts():
        key = f["carrier"].upper()
        if key not in best or (-f["distance"], f["id"]) < (-best[key]["distance"], best[key]["id"]):
            best[key] = f
    return sorted((key, f["id"], f["dep_delay"] if f["dep_delay"] is not None else 0.0) for key, f in best.items())


def expected_normalization() -> list[tuple]:
    flights = flights_as_dicts()
    distances = [f["distance"] for f in flights]
    low, high = min(distances), max(distances)
    delays = [f["dep_delay"] for f in flights if f["dep_delay"] is not None]
    mu, sd = mean(delays), stdev(delays)
    origin = {"JFK": "NYC", "LGA": "NYC", "EWR": "New Jersey"}
    return [(f["id"], f["carrier"].lower(), origin[f["origin"]], (f["distance"] - low) / (high - low),
             None if f["dep_delay"] is None else (f["dep_delay"] - mu) / sd) for f in flights]


EXPECTED = {
    "etl": expected_etl, "aggregation": expected_aggregation, "join": expected_join,
    "enrichment": expected_enrichment, "cleansing": expected_cleansing, "normalization": expected_normalization,
}


def test_every_transformation_type_has_a_spec() -> None:
    assert set(SPECS) == {t.value for t in TransformationType}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_transformation_type_end_to_end(engine: Engine, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "specs" / f"{kind}.yaml"
    path.parent.mkdir()
    path.write_text(SPECS[kind])
    spec = load_spec(path).spec
    assert spec.type.value == kind
    result = engine.execute(spec, engine.compile(spec, file=str(path)), tmp_path / "out" / f"{kind}.parquet")
    rows = read_rows(Path(result.output_path))
    assert result.record_count == len(rows)
    assert result.report.to_dict()  # the target_schema check ran and passed
    expected = sorted(EXPECTED[kind](), key=lambda r: r[0])
    if kind == "normalization":  # z-scores: same formula, summation order may differ in the last bit
        assert [r[:4] for r in rows] == [r[:4] for r in expected]
        assert [r[4] is None for r in rows] == [r[4] is None for r in expected]
        assert [r[4] for r in rows if r[4] is not None] == pytest.approx(
            [r[4] for r in expected if r[4] is not None], rel=1e-12)
    else:
        assert rows == expected
