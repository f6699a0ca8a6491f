"""DuckDB result values -> plain JSON types, for reports and tool outputs."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """Dates as ISO strings, decimals as floats, bytes as hex; containers recursively."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def rows_as_dicts(names: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [{name: jsonable(v) for name, v in zip(names, row)} for row in rows]
