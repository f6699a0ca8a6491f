"""Search the catalog, ranked by the tutorial's composite score.

    score = (quality*0.5 + relevance*0.3 + freshness*0.1 + schema_completeness*0.1)
            * source_weight

- quality: the record's `quality_score` (completeness, see `quality.py`); 0 when unknown.
- relevance (0..1): the mean, over the query's distinct tokens, of each token's
  best match. Tokens are lowercase alphanumeric runs (`dep_delay` -> `dep`,
  `delay`) with a plural `s` dropped. A token matching a dataset-name token
  scores 1.0, a column-name token 0.8, a description token (dataset or column)
  0.6; a prefix match (query token of 3+ characters) scores half of that.
- freshness (0..1): 0.5 ** (age in days / `FRESHNESS_HALF_LIFE_DAYS`) of
  `last_updated`; 1.0 when updated now or in the future.
- schema_completeness (0..1): 0.5 if the dataset has a description, plus
  0.5 * the share of its columns that have one.
- source_weight: `SOURCE_WEIGHTS` by source type.

A non-empty query keeps only datasets with relevance > 0; an empty query
ranks everything. Ties are broken by asset key, so results are stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import DatasetRecord

SOURCE_WEIGHTS = {
    "data_warehouse": 1.4,
    "streaming": 1.3,
    "data_lake": 1.2,
    "api_endpoints": 1.0,
    "file_systems": 0.8,
}
WEIGHTS = {"quality": 0.5, "relevance": 0.3, "freshness": 0.1, "schema_completeness": 0.1}
FIELD_WEIGHTS = {"name": 1.0, "column": 0.8, "description": 0.6}
PREFIX_FACTOR = 0.5
FRESHNESS_HALF_LIFE_DAYS = 30.0

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SearchHit:
    record: DatasetRecord
    score: float
    quality: float
    relevance: float
    freshness: float
    schema_completeness: float
    source_weight: float


def search(
    records: Iterable[DatasetRecord], query: str, *, limit: int = 10, now: datetime | None = None
) -> list[SearchHit]:
    """The best `limit` datasets for `query`, highest score first."""
    now = now or datetime.now(UTC)
    terms = sorted(set(tokens(query)))
    hits = []
    for record in records:
        relevance = relevance_score(record, terms)
        if terms and relevance == 0:
            continue
        quality = record.quality_score or 0.0
        freshness = freshness_score(record, now)
        schema = schema_completeness_score(record)
        weight = SOURCE_WEIGHTS.get(record.source_type.value, 1.0)
        score = (
            quality * WEIGHTS["quality"]
            + relevance * WEIGHTS["relevance"]
            + freshness * WEIGHTS["freshness"]
            + schema * WEIGHTS["schema_completeness"]
        ) * weight
        hits.append(SearchHit(record, score, quality, relevance, freshness, schema, weight))
    hits.sort(key=lambda h: (-h.score, h.record.key_string))
    return hits[:limit]


def tokens(text: str) -> list[str]:
    return [_singular(t) for t in _TOKEN.findall(text.lower())]


def _singular(token: str) -> str:
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def relevance_score(record: DatasetRecord, terms: list[str]) -> float:
    if not terms:
        return 0.0
    fields = {
        "name": set(tokens(record.dataset_name)),
        "column": {t for c in record.columns for t in tokens(c.name)},
        "description": set(tokens(" ".join([record.description, *(c.description for c in record.columns)]))),
    }
    return sum(_best_match(term, fields) for term in terms) / len(terms)


def _best_match(term: str, fields: dict[str, set[str]]) -> float:
    best = 0.0
    for field, field_tokens in fields.items():
        weight = FIELD_WEIGHTS[field]
        if term in field_tokens:
            best = max(best, weight)
        elif len(term) >= 3 and any(t.startswith(term) for t in field_tokens):
            best = max(best, weight * PREFIX_FACTOR)
    return best


def freshness_score(record: DatasetRecord, now: datetime) -> float:
    updated = record.last_updated
    if updated.tzinfo is None:  # naive timestamps are taken as UTC
        updated = updated.replace(tzinfo=UTC)
    age_days = max((now - updated).total_seconds() / 86_400, 0.0)
    return 0.5 ** (age_days / FRESHNESS_HALF_LIFE_DAYS)


def schema_completeness_score(record: DatasetRecord) -> float:
    described = sum(1 for c in record.columns if c.description)
    share = described / len(record.columns) if record.columns else 0.0
    return 0.5 * bool(record.description) + 0.5 * share
