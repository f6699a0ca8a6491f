"""Dataset profiles and the catalog's quality score.

A profile (`DatasetProfile`) holds, per column, the null count and rate, an
estimate of the distinct values, and the smallest and largest value, each
from what the source keeps about its data rather than from the data itself
where it can (the field `basis` / `distinct_basis` says which):

- parquet: the footers (`footer`): null counts and min/max aggregated over
  every row group of every file; the distinct count where the writer stored
  one and the dataset is a single row group (counts of several groups do not
  add up); otherwise the distinct estimate comes from the PII value sample
  (`sample`, `estimate_distinct`), for the sampled columns and the key;
- CSV/JSON and DuckDB tables: one aggregate query over the rows (`scan`):
  count, min, max and distinct (counted exactly for text files up to 64 MB
  and tables estimated at up to `EXACT_DISTINCT_ROWS` rows, else DuckDB's
  HyperLogLog `approx_count_distinct`, within a few percent);
- PostgreSQL: `pg_stats` (`statistics`): null_frac, n_distinct and the
  histogram bounds and most common values, ANALYZE's figures; no row is read.

Extremes are kept for flat, ordered types as JSON scalars (times as ISO
text), text only up to `MAX_TEXT_VALUE` characters, and never for a PII
column (`without_values`).

The quality score of a record is the mean of the figures that can be judged:

    quality_score = mean(completeness, validity, key_uniqueness)   (None ones left out)

- completeness = non-null cells / (profiled rows x measured columns): the
  columns whose null count is known, hive partition keys included;
- validity = columns whose profile meets their value rules / columns with
  value rules that could be judged. The rules are the dataset's `datasets:`
  entry in datacrew.yaml (`min`, `max`, `accepted_values`, `pattern`); a
  column is judged when its min and max are known, and meets its rules when
  both extremes do (min >= rule min, max <= rule max, each extreme among the
  accepted values and matching the pattern). Discovery reads the extremes,
  not every value: a value between them that breaks a rule is the dataset's
  `accuracy` check's to find. None when the dataset has no value rules;
- key_uniqueness = estimated distinct key values / rows, at most 1. The key
  is the `datasets:` entry's `primary_key`, else the key the source declares
  (warehouse tables). One column only: the distinct estimates are per
  column, so a composite key is not judged. None without a key.

A figure that cannot be judged is left out rather than counted as 0 or 1; a
record with no figure at all has no score (`None`, which ranking reads as 0).
A record without a profile (streams, whose latest batches or messages
discovery samples, so a sample's distinct counts say nothing of the whole;
workbooks; objects in S3) keeps the completeness its connector measured.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from ..config.datasets import ColumnRules
from .models import ColumnProfile, DatasetProfile, DatasetRecord, PiiColumn, ProfileValue
from .pii import Blocks, int64s
from .quality import completeness as non_null_share

EXACT_DISTINCT_ROWS = 1_000_000
# Longer text extremes are not kept: a catalog holds metadata, not documents.
MAX_TEXT_VALUE = 64
_FIGURES = ("completeness", "validity", "key_uniqueness")


def profile_value(value: Any) -> ProfileValue:
    """A min or max as the catalog keeps it (JSON scalars); None for what has no useful order."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
            return None
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return None  # bytes, intervals, nested values


# Types whose min and max mean something to a reader and to value rules.
_ORDERED_TYPE = re.compile(
    r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL(\(\d+,\s*\d+\))?|VARCHAR|TEXT"
    r"|BOOLEAN|DATE|TIME|TIME WITH TIME ZONE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE|UUID|INTERVAL)",
    re.IGNORECASE,
)


def ordered_type(type_: str) -> bool:
    """A flat type with a meaningful order (numbers, text, times): its extremes are profiled."""
    return _ORDERED_TYPE.fullmatch(type_.strip()) is not None


def null_rate(nulls: int | None, rows: int) -> float | None:
    return None if nulls is None or rows <= 0 else round(nulls / rows, 4)


def column_profile(
    name: str, rows: int, nulls: int | None, *, distinct: int | None = None, basis: str | None = None,
    low: Any = None, high: Any = None,
) -> ColumnProfile:
    # Built unvalidated: every field is computed here, and a lake has a profile per column of
    # each of its thousands of datasets (validation would be a tenth of a cold scan).
    return ColumnProfile.model_construct(
        name=name, null_count=nulls, null_rate=null_rate(nulls, rows),
        distinct=distinct, distinct_basis=basis if distinct is not None else None,
        min=profile_value(low), max=profile_value(high),
    )


@dataclass(frozen=True)
class SampleCounts:
    """Frequencies of one column's sampled values: n values, d distinct, f1 seen once."""

    n: int
    d: int
    f1: int


def sample_counts(blocks: Blocks) -> list[SampleCounts]:
    """`SampleCounts` of each sample, computed over all of them at once: the values sorted
    within each sample, a run of equal values is one distinct value, a run of one a singleton."""
    ids = pc.list_parent_indices(pa.LargeListArray.from_arrays(int64s(blocks.offsets), blocks.values))
    table = pa.table({"id": ids, "value": blocks.values})
    ordered = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending"), ("value", "ascending")]))
    values, owners = ordered["value"].combine_chunks(), ordered["id"].combine_chunks()
    if len(values) == 0:
        return [SampleCounts(0, 0, 0) for _ in blocks.lengths]
    # starts[k]: value k differs from value k-1 (or opens its sample); ends[k]: from value k+1.
    changed = pc.or_(pc.not_equal(values[1:], values[:-1]), pc.not_equal(owners[1:], owners[:-1]))
    true = pc.equal(values[:1], values[:1])  # [True], built without `pa.array` (which imports pandas)
    starts = pa.concat_arrays([true, changed])
    ends = pa.concat_arrays([changed, true])
    distinct = blocks.sums(starts)
    once = blocks.sums(pc.and_(starts, ends))
    return [SampleCounts(n, d, f1) for n, d, f1 in zip(blocks.lengths, distinct, once, strict=True)]


def estimate_distinct(sample: SampleCounts, rows: int) -> int:
    """Distinct values of `rows` rows from a sample's value frequencies.

    The Haas-Stokes "Duj1" estimator PostgreSQL's ANALYZE uses: n*d / (n - f1 + f1*n/N), n sampled
    values, d distinct among them, f1 seen once. A sample of all distinct values estimates N, one
    with no singletons d; a sample covering every row gives d exactly.
    """
    n, d, f1 = sample.n, sample.d, sample.f1
    if n == 0:
        return 0
    if n >= rows:
        return d
    estimate = n * d / (n - f1 + f1 * n / rows)
    return min(rows, max(d, round(estimate)))


def completeness(rows: int, nulls: Sequence[int | None]) -> float | None:
    """Non-null share of the cells of the columns whose null count is known."""
    return non_null_share(rows, [rows - n for n in nulls if n is not None])


def validity(profile: DatasetProfile, rules: Mapping[str, ColumnRules]) -> float | None:
    judged = [
        verdict for name, rule in rules.items()
        if rule.has_value_rule and (column := profile.column(name)) is not None
        and (verdict := meets(column, rule)) is not None
    ]
    return round(sum(judged) / len(judged), 4) if judged else None


def meets(column: ColumnProfile, rule: ColumnRules) -> bool | None:
    """Whether the column's extremes meet `rule`; None when they are unknown or of another kind."""
    extremes = (column.min, column.max)
    if any(v is None for v in extremes):
        return None
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in extremes)
    if rule.min is not None or rule.max is not None:
        if not numeric:
            return None
        if (rule.min is not None and column.min < rule.min) or (rule.max is not None and column.max > rule.max):
            return False
    if rule.accepted_values is not None and not all(_accepted(v, rule.accepted_values) for v in extremes):
        return False
    if rule.pattern is not None and not all(re.fullmatch(rule.pattern, str(v)) for v in extremes):
        return False
    return True


def _accepted(value: ProfileValue, accepted: Sequence[Any]) -> bool:
    return value in accepted or str(value) in {str(a) for a in accepted}


def key_uniqueness(profile: DatasetProfile, key: Sequence[str], rows: int) -> float | None:
    if len(key) != 1 or rows <= 0:
        return None
    column = profile.column(key[0])
    if column is None or column.distinct is None:
        return None
    return round(min(1.0, column.distinct / rows), 4)


def score(
    record: DatasetRecord, *, rules: Mapping[str, ColumnRules], primary_key: Sequence[str]
) -> DatasetRecord:
    """`record` with its profile's figures and quality score (see the module docstring)."""
    profile = record.profile
    if profile is None:
        return record
    figures = {
        "completeness": completeness(profile.rows, [c.null_count for c in profile.columns]),
        "validity": validity(profile, rules),
        "key_uniqueness": key_uniqueness(profile, list(primary_key) or record.primary_key, record.record_count),
    }
    judged = [figures[name] for name in _FIGURES if figures[name] is not None]
    quality = round(statistics.fmean(judged), 4) if judged else None
    if quality == record.quality_score and all(getattr(profile, name) == figures[name] for name in _FIGURES):
        return record  # scored the same way before
    return record.model_copy(update={"profile": profile.model_copy(update=figures), "quality_score": quality})


def sampled_distincts(
    profile: DatasetProfile | None, counts: Mapping[str, SampleCounts], rows: int
) -> DatasetProfile | None:
    """`profile` with the distinct counts it lacks estimated from sampled values' `counts` by column
    (`rows`: the dataset's)."""
    if profile is None:
        return None
    columns = []
    for column in profile.columns:
        sample = counts.get(column.name)
        if column.distinct is None and sample is not None and sample.n > 0:  # no value seen: no estimate
            non_null = rows - column.null_count if column.null_count is not None else rows
            distinct = estimate_distinct(sample, max(non_null, 0))
            column = _replaced(column, distinct=distinct, distinct_basis="sample")
        columns.append(column)
    return profile.model_copy(update={"columns": columns})


def _replaced(column: ColumnProfile, **update: Any) -> ColumnProfile:
    """`column.model_copy(update=...)` at a third of its cost (see `column_profile`)."""
    return ColumnProfile.model_construct(**{**column.__dict__, **update})


def carry_estimates(profile: DatasetProfile | None, before: DatasetProfile | None) -> DatasetProfile | None:
    """`profile` of unchanged data with the sample's distinct estimates `before` (its last read) made."""
    if profile is None or before is None or profile is before:
        return profile
    columns = []
    for column in profile.columns:
        earlier = before.column(column.name)
        if column.distinct is None and earlier is not None and earlier.distinct_basis == "sample":
            column = _replaced(column, distinct=earlier.distinct, distinct_basis="sample")
        columns.append(column)
    return profile.model_copy(update={"columns": columns})


def without_values(profile: DatasetProfile | None, pii: Sequence[PiiColumn]) -> DatasetProfile | None:
    """`profile` without the min and max of the PII columns: a catalog keeps no personal data."""
    personal = {p.column for p in pii}
    if profile is None or all(c.min is None and c.max is None for c in profile.columns if c.name in personal):
        return profile
    columns = [_replaced(c, min=None, max=None) if c.name in personal else c for c in profile.columns]
    return profile.model_copy(update={"columns": columns})
