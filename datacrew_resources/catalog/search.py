"""Ranked search of a home's catalog: the Python API behind `datacrew search`.

    response = search(home, "flight delays", max_results=5, source_types=["data_lake"],
                      quality_threshold=0.8, data_domains=["flight-ops"],
                      freshness_requirement="last_7_days")

The arguments are the tutorial's `DataDiscoveryInput` (see `ranking.SearchFilters`
for their checks and defaults); the answer is a `ranking.SearchResponse`.
Repeated queries over an unchanged catalog take their candidates from the
cache in the home's state directory (`search_cache.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..config import Home, SourceType
from .ranking import SearchFilters, SearchResponse, query_terms, rank, score_candidates
from .search_cache import SearchCache, read_catalog
from .store import CatalogStore

CACHE_FILE = "search_cache.sqlite"


def search(
    home: Home,
    query: str,
    *,
    max_results: int = 10,
    source_types: Sequence[str | SourceType] = (),
    quality_threshold: float = 0.0,
    data_domains: Sequence[str] = (),
    freshness_requirement: str | None = None,
    now: datetime | None = None,
) -> SearchResponse:
    """The best `max_results` datasets of the home's catalog for `query`, highest score first."""
    filters = SearchFilters(
        max_results=max_results,
        source_types=tuple(source_types),
        quality_threshold=quality_threshold,
        data_domains=tuple(data_domains),
        freshness_requirement=freshness_requirement or "any",
    )
    snapshot = read_catalog(CatalogStore.for_home(home))
    terms = query_terms(query)
    cache = SearchCache(home.state_dir / CACHE_FILE)
    candidates = cache.get(snapshot.fingerprint, terms)
    from_cache = candidates is not None
    if candidates is None:
        candidates = score_candidates(snapshot.records(), query)
        cache.put(snapshot.fingerprint, terms, candidates)
    return rank(candidates, query, filters, load=snapshot.record, now=now, from_cache=from_cache)
