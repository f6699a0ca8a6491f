"""Rank catalog records for a query by the tutorial's composite score.

    score = (quality*0.5 + relevance*0.3 + freshness*0.1 + schema_completeness*0.1)
            * source_weight

- quality: the record's `quality_score` (see `quality.py`); 0 when unknown.
- relevance (0..1): BM25F of the query over the record's name, column names,
  tags and descriptions (`relevance.py`, weights `FIELD_WEIGHTS`), divided by
  the best score in the catalog for that query.
- freshness (0..1): 0.5 ** (age in days / `FRESHNESS_HALF_LIFE_DAYS`) of
  `last_updated`; 1.0 when updated now or in the future.
- schema_completeness (0..1): 0.5 if the dataset has a description, plus
  0.5 * the share of its columns that have one.
- source_weight: `SOURCE_WEIGHTS` by source type.

A non-empty query keeps only datasets holding at least one query term; an
empty query ranks everything. The filters of the tutorial's
`DataDiscoveryInput` (`SearchFilters`) apply next, then the best
`max_results` are returned with the tutorial's aggregation metadata (domain,
source type and quality band counts of the returned datasets). Ties are
broken by asset key, so results are stable.

Scoring is split in two so it can be cached: `score_candidates` does what
depends only on the catalog and the query (parsing, BM25F) and gives
`Candidate`s; `rank` applies filters and the clock (freshness) to them.

The catalog has no domain or tag field yet; until it does, a dataset's domain
is its owner team (`team:flight-ops` -> `flight-ops`, as the tutorial's
`owner_team` is `<domain>_data_team`) and its tags are its source name,
source type, format, compression and domain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import ConfigError, SourceType
from ..quality.score import quality_distribution
from .models import DatasetRecord
from .relevance import BM25F, normalised, tokens

SOURCE_WEIGHTS = {
    "data_warehouse": 1.4,
    "streaming": 1.3,
    "data_lake": 1.2,
    "api_endpoints": 1.0,
    "file_systems": 0.8,
}
WEIGHTS = {"quality": 0.5, "relevance": 0.3, "freshness": 0.1, "schema_completeness": 0.1}
# A name says what a dataset is; columns what it holds; tags and prose are looser evidence.
FIELD_WEIGHTS = {"name": 3.0, "columns": 2.0, "tags": 1.5, "description": 1.0}
FRESHNESS_HALF_LIFE_DAYS = 30.0
FRESHNESS_WINDOWS: dict[str, timedelta | None] = {
    "last_24_hours": timedelta(hours=24),
    "last_7_days": timedelta(days=7),
    "last_30_days": timedelta(days=30),
    "any": None,
}


def record_domain(record: DatasetRecord) -> str:
    """The governance metadata's domain when discovery recorded one, else the owner team's name."""
    if record.metadata is not None and record.metadata.domain:
        return record.metadata.domain
    return record.owner.removeprefix("team:").lower()


def record_tags(record: DatasetRecord) -> list[str]:
    tags = [record.source, record.source_type.value, record.format, record.compression, record_domain(record)]
    return [t for t in tags if t]


def record_document(record: DatasetRecord) -> dict[str, list[str]]:
    """The record's search tokens by BM25F field."""
    prose = " ".join([record.description, *(c.description for c in record.columns)])
    return {
        "name": tokens(record.dataset_name),
        "columns": [t for c in record.columns for t in tokens(c.name)],
        "tags": [t for tag in record_tags(record) for t in tokens(tag)],
        "description": tokens(prose),
    }


def freshness_score(last_updated: datetime, now: datetime) -> float:
    age_days = max((now - _aware(last_updated)).total_seconds() / 86_400, 0.0)
    return 0.5 ** (age_days / FRESHNESS_HALF_LIFE_DAYS)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive timestamps are taken as UTC


def schema_completeness_score(record: DatasetRecord) -> float:
    described = sum(1 for c in record.columns if c.description)
    share = described / len(record.columns) if record.columns else 0.0
    return 0.5 * bool(record.description) + 0.5 * share


@dataclass(frozen=True)
class Candidate:
    """What ranking needs of one matching record, none of it depending on the clock."""

    asset_key: str
    source_type: str
    domain: str
    relevance: float
    quality: float | None
    schema_completeness: float
    last_updated: datetime

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "last_updated": self.last_updated.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        return cls(**{**data, "last_updated": datetime.fromisoformat(data["last_updated"])})


def query_terms(query: str) -> list[str]:
    """The query's distinct tokens, sorted: equal for queries that rank alike (a cache key)."""
    return sorted(set(tokens(query)))


def score_candidates(records: Sequence[DatasetRecord], query: str) -> list[Candidate]:
    """Records matching `query` (all of them for an empty query) with their relevance."""
    terms = query_terms(query)
    if terms:
        relevance = normalised(BM25F([record_document(r) for r in records], FIELD_WEIGHTS).scores(terms))
    else:
        relevance = [0.0] * len(records)
    return [
        Candidate(
            asset_key=record.key_string,
            source_type=record.source_type.value,
            domain=record_domain(record),
            relevance=score,
            quality=record.quality_score,
            schema_completeness=schema_completeness_score(record),
            last_updated=record.last_updated,
        )
        for record, score in zip(records, relevance, strict=True)
        if score > 0 or not terms
    ]


@dataclass(frozen=True)
class SearchFilters:
    """The tutorial's DataDiscoveryInput filters.

    The defaults keep everything: empty `source_types` and `data_domains` mean all (the
    tutorial's defaults name three source types and three domains a given catalog may not
    have), and `quality_threshold` is 0 (the tutorial's is 0.8).
    Domains compare lowercased. Values are checked and normalised on creation: a bad one
    raises a ConfigError naming the field and the value.
    """

    max_results: int = 10
    source_types: tuple[SourceType, ...] = ()
    quality_threshold: float = 0.0
    data_domains: tuple[str, ...] = ()
    freshness_requirement: str = "any"

    def __post_init__(self) -> None:
        for name, check in _FILTER_CHECKS.items():
            object.__setattr__(self, name, check(getattr(self, name)))

    def keeps(self, candidate: Candidate, now: datetime) -> bool:
        window = FRESHNESS_WINDOWS[self.freshness_requirement]
        return (
            (not self.source_types or candidate.source_type in self.source_types)  # str enum: equal to its value
            and (candidate.quality or 0.0) >= self.quality_threshold
            and (not self.data_domains or candidate.domain in self.data_domains)
            and (window is None or _aware(candidate.last_updated) >= now - window)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "max_results": self.max_results,
            "source_types": [t.value for t in self.source_types],
            "quality_threshold": self.quality_threshold,
            "data_domains": list(self.data_domains),
            "freshness_requirement": self.freshness_requirement,
        }


def _max_results(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("must be a whole number of at least 1", field="max_results", value=value)
    return value


def _items(value: Any) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)  # one name given alone


def _source_types(value: Any) -> tuple[SourceType, ...]:
    known = {t.value: t for t in SourceType}
    types = []
    for item in _items(value):
        name = item.value if isinstance(item, SourceType) else item
        if name not in known:
            raise ConfigError(f"unknown source type (known: {', '.join(known)})", field="source_types", value=item)
        types.append(known[name])
    return tuple(dict.fromkeys(types))


def _quality_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError("must be a number from 0 to 1", field="quality_threshold", value=value)
    return float(value)


def _data_domains(value: Any) -> tuple[str, ...]:
    domains = []
    for item in _items(value):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError("must be a non-empty domain name", field="data_domains", value=item)
        domains.append(item.strip().lower())
    return tuple(dict.fromkeys(domains))


def _freshness_requirement(value: Any) -> str:
    value = value or "any"
    if value not in FRESHNESS_WINDOWS:
        raise ConfigError(f"must be one of {', '.join(FRESHNESS_WINDOWS)}", field="freshness_requirement", value=value)
    return value


_FILTER_CHECKS = {
    "max_results": _max_results,
    "source_types": _source_types,
    "quality_threshold": _quality_threshold,
    "data_domains": _data_domains,
    "freshness_requirement": _freshness_requirement,
}


@dataclass(frozen=True)
class SearchHit:
    record: DatasetRecord
    score: float
    quality: float
    relevance: float
    freshness: float
    schema_completeness: float
    source_weight: float
    domain: str


@dataclass(frozen=True)
class SearchResponse:
    """Ranked datasets for one query, with the tutorial's aggregation metadata.

    `total_datasets_found` counts matches that pass the filters, before `max_results`;
    the distributions count the returned datasets (as the tutorial's do): by domain, by
    source type, and by quality band (high >= 0.8, medium >= 0.6, low; unknown quality is 0).
    """

    query: str
    filters: SearchFilters
    total_datasets_found: int
    hits: list[SearchHit]
    domain_distribution: dict[str, int]
    source_distribution: dict[str, int]
    quality_distribution: dict[str, int]
    ranked_at: datetime
    from_cache: bool = False

    @property
    def datasets_returned(self) -> int:
        return len(self.hits)

    def aggregation_metadata(self) -> dict[str, Any]:
        return {
            "total_datasets_considered": self.total_datasets_found,
            "domain_distribution": self.domain_distribution,
            "source_distribution": self.source_distribution,
            "quality_distribution": self.quality_distribution,
            "ranking_algorithm": "composite_data_engineering_scoring",
            "weighting_applied": True,
        }


def rank(
    candidates: Iterable[Candidate],
    query: str,
    filters: SearchFilters,
    *,
    load: Callable[[str], DatasetRecord],
    now: datetime | None = None,
    from_cache: bool = False,
) -> SearchResponse:
    """Filter, score and order `candidates`; `load` gives the record of each returned key."""
    now = now or datetime.now(UTC)
    scored = []
    for candidate in candidates:
        if not filters.keeps(candidate, now):
            continue
        quality = candidate.quality or 0.0
        freshness = freshness_score(candidate.last_updated, now)
        weight = SOURCE_WEIGHTS.get(candidate.source_type, 1.0)
        score = (
            quality * WEIGHTS["quality"]
            + candidate.relevance * WEIGHTS["relevance"]
            + freshness * WEIGHTS["freshness"]
            + candidate.schema_completeness * WEIGHTS["schema_completeness"]
        ) * weight
        scored.append((score, candidate, freshness, weight))
    scored.sort(key=lambda s: (-s[0], s[1].asset_key))
    top = scored[: filters.max_results]
    hits = [
        SearchHit(
            record=load(c.asset_key),
            score=score,
            quality=c.quality or 0.0,
            relevance=c.relevance,
            freshness=freshness,
            schema_completeness=c.schema_completeness,
            source_weight=weight,
            domain=c.domain,
        )
        for score, c, freshness, weight in top
    ]
    return SearchResponse(
        query=query,
        filters=filters,
        total_datasets_found=len(scored),
        hits=hits,
        domain_distribution=dict(Counter(h.domain for h in hits)),
        source_distribution=dict(Counter(h.record.source_type.value for h in hits)),
        quality_distribution=quality_distribution(h.quality for h in hits),
        from_cache=from_cache,
        ranked_at=now,
    )


def rank_records(
    records: Sequence[DatasetRecord],
    query: str,
    filters: SearchFilters | None = None,
    *,
    now: datetime | None = None,
) -> SearchResponse:
    """`rank` over records in memory (no cache)."""
    by_key = {r.key_string: r for r in records}
    return rank(score_candidates(records, query), query, filters or SearchFilters(), load=by_key.__getitem__, now=now)
