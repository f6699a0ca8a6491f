"""Text relevance of catalog records to a query: BM25F over weighted fields.

Tokens: runs of letters and digits, split further at snake_case, camelCase and
letter/digit boundaries (`depDelay`, `dep_delay` -> `dep`, `delay`;
`year2013` -> `year`, `2013`), lowercased, with a plural `s` dropped
(`flights` -> `flight`, but not `class`).

BM25F (Robertson & Zaragoza, "The Probabilistic Relevance Framework", 2009),
with k1 = 1.2 and b = 0.75. For a document d and a query term t:

    tf~(t, d) = sum over fields f of  w_f * tf(t, f, d) / (1 - b + b * len(f, d) / avglen(f))
    idf(t)    = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))
    score(d)  = sum over distinct query terms t of  idf(t) * tf~ * (k1 + 1) / (k1 + tf~)

N is the number of documents, n_t how many contain t in any field, len and
avglen count tokens; a field empty in every document has avglen 0 and
contributes nothing. The idf is Lucene's, never negative, so a term found
everywhere still counts a little. Term frequencies are first weighted and
length-normalised per field, then saturated once: a term repeated across
fields adds less and less, as in one long field.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

K1 = 1.2
B = 0.75

_RUN = re.compile(r"[^\W_]+")
# Zero-width boundaries inside one run: aB, ABc (acronym then word), a1, 1a.
_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def tokens(text: str) -> list[str]:
    """Search tokens of `text`, in order (repeats kept: they are term frequencies)."""
    return [_singular(part.lower()) for run in _RUN.findall(text) for part in _SPLIT.split(run) if part]


def _singular(token: str) -> str:
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


Document = Mapping[str, Sequence[str]]
"""A document's tokens by field name."""


class BM25F:
    """An index of documents with weighted fields; `scores` ranks them for a query's terms."""

    def __init__(self, documents: Sequence[Document], field_weights: Mapping[str, float]):
        self.field_weights = dict(field_weights)
        self.size = len(documents)
        self.frequencies = [{f: Counter(doc.get(f, ())) for f in self.field_weights} for doc in documents]
        self.lengths = [{f: len(doc.get(f, ())) for f in self.field_weights} for doc in documents]
        self.average_lengths = {
            f: sum(lengths[f] for lengths in self.lengths) / self.size if self.size else 0.0
            for f in self.field_weights
        }
        # Postings: the documents holding each term, so a query touches only those.
        self.postings: dict[str, list[int]] = {}
        for index, frequencies in enumerate(self.frequencies):
            for term in set().union(*frequencies.values()):
                self.postings.setdefault(term, []).append(index)

    def idf(self, term: str) -> float:
        n = len(self.postings.get(term, ()))
        return math.log(1 + (self.size - n + 0.5) / (n + 0.5))

    def weighted_frequency(self, index: int, term: str) -> float:
        """tf~: the term's frequency in document `index`, weighted and length-normalised per field."""
        total = 0.0
        for field, weight in self.field_weights.items():
            tf = self.frequencies[index][field].get(term, 0)
            if tf:
                norm = 1 - B + B * self.lengths[index][field] / self.average_lengths[field]
                total += weight * tf / norm
        return total

    def scores(self, terms: Sequence[str]) -> list[float]:
        """Every document's score, in document order; 0 for those holding no term."""
        totals = [0.0] * self.size
        for term in dict.fromkeys(terms):
            idf = self.idf(term)
            for index in self.postings.get(term, ()):
                tf = self.weighted_frequency(index, term)
                totals[index] += idf * tf * (K1 + 1) / (K1 + tf)
        return totals


def normalised(scores: Sequence[float]) -> list[float]:
    """Scores divided by the best one, so the best match is 1.0 (all 0 when nothing matched).

    BM25 has no fixed upper bound; dividing by the best score of the corpus puts relevance on
    the same 0..1 scale as quality, freshness and completeness, so the composite's weights
    keep their meaning whatever the query and catalog size.
    """
    best = max(scores, default=0.0)
    return [s / best if best > 0 else 0.0 for s in scores]
