"""Schemas of message streams, inferred from a rolling window of recent messages.

Each message is reduced to a *signature*: its field names mapped to the
DuckDB type of each value (`"NULL"` for a JSON null). The window keeps the
signatures of the most recent `sample` messages (never their values, so a
state file holding a window holds no data), and the schema is read off the
window:

- a column per field seen, in order of first appearance (oldest message first);
- its type is the common type of its non-null values: BIGINT widens to HUGEINT
  and DOUBLE, DATE to TIMESTAMP; objects and arrays are JSON; any other mix of
  scalars is VARCHAR, as DuckDB's JSON reader types it; a field only ever null
  is JSON (nothing tells its type yet);
- it is nullable when a message in the window lacks it or holds null.

ISO-8601 strings are typed DATE, TIMESTAMP or TIMESTAMP WITH TIME ZONE (when
they carry an offset), like DuckDB's JSON reader does, so an event-time field
is a timestamp in the catalog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from .models import ColumnInfo
from .quality import completeness

Signature = dict[str, str]

NULL = "NULL"
_INT64 = range(-(2**63), 2**63)
_INT128 = range(-(2**127), 2**127)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?")
_NUMERIC_ORDER = ["BIGINT", "HUGEINT", "DOUBLE"]


class NotJsonError(ValueError):
    """A payload that is not the JSON the stream is expected to carry."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: `NaN` and `Infinity`, which Python's json accepts, are refused."""
    return json.loads(text, parse_constant=_refuse_constant)


def json_object(payload: bytes) -> dict[str, Any]:
    """A message payload that must be one JSON object."""
    try:
        value = parse_json(payload)
    except ValueError as e:  # also bytes that are not UTF-8 (UnicodeDecodeError)
        raise NotJsonError(f"payload is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise NotJsonError(f"payload is JSON {type(value).__name__}, not an object")
    return value


def value_type(value: Any) -> str:
    """The DuckDB type of one decoded JSON value."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT" if value in _INT64 else "HUGEINT" if value in _INT128 else "DOUBLE"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return _string_type(value)
    return "JSON"


def _string_type(text: str) -> str:
    try:
        if _DATE.fullmatch(text):
            date.fromisoformat(text)
            return "DATE"
        match = _TIMESTAMP.fullmatch(text)
        if match:
            datetime.fromisoformat(_to_microseconds(text))
            return "TIMESTAMP WITH TIME ZONE" if match["zone"] else "TIMESTAMP"
    except ValueError:  # shaped like a date but not one (2024-13-45)
        pass
    return "VARCHAR"


def _to_microseconds(text: str) -> str:
    """Python 3.11 parses at most 6 fractional digits; producers often send 9."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def signature(fields: Mapping[str, Any]) -> Signature:
    return {name: value_type(value) for name, value in fields.items()}


def common_type(left: str, right: str) -> str:
    """The type both values fit in (neither is NULL)."""
    if left == right:
        return left
    pair = {left, right}
    if pair <= set(_NUMERIC_ORDER):
        return max(pair, key=_NUMERIC_ORDER.index)
    if pair == {"DATE", "TIMESTAMP"}:
        return "TIMESTAMP"
    return "JSON" if "JSON" in pair else "VARCHAR"


def slide(window: Sequence[Signature], newer: Iterable[Signature], size: int) -> list[Signature]:
    """The window after `newer` messages (oldest first) arrived: the last `size` signatures."""
    return [*window, *newer][-size:] if size > 0 else []


def columns(window: Sequence[Signature]) -> list[ColumnInfo]:
    types: dict[str, str | None] = {}
    present: dict[str, int] = {}
    for sig in window:
        for name, type_ in sig.items():
            known = types.get(name)
            if type_ != NULL:
                types[name] = type_ if known is None else common_type(known, type_)
                present[name] = present.get(name, 0) + 1
            else:
                types.setdefault(name, None)
    return [
        ColumnInfo(name=name, type=type_ or "JSON", nullable=present.get(name, 0) < len(window))
        for name, type_ in types.items()
    ]


def window_completeness(window: Sequence[Signature]) -> float | None:
    """Share of non-null cells in the window, over the columns the window has."""
    names = {name for sig in window for name in sig}
    non_null = [sum(1 for sig in window if sig.get(name, NULL) != NULL) for name in names]
    return completeness(len(window), non_null)
