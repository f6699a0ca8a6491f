"""XLSX workbooks as typed tables: one Arrow table per non-empty sheet.

Read with openpyxl (read-only, cached formula values: a formula never computed
by a spreadsheet program reads as empty). In each sheet the first non-empty
row is the header; rows with no value at all are skipped (formatting leaves
them behind); a column past the header, or with an empty header cell, is
named `column<index>` (0-based) and a repeated name gets `_1`, `_2`, as
DuckDB's CSV reader names them.

Types come from the cells' own values, the way DuckDB's sniffer types a CSV
column from its text: all integers BIGINT, numbers DOUBLE, booleans BOOLEAN,
date-times TIMESTAMP (DATE when every one is at midnight, which is how a date
cell reads), times TIME, durations INTERVAL, anything mixed or textual
VARCHAR. A text cell stays text even when it looks like a number: the
workbook says what it is, unlike a CSV.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

_INT64 = 2**63


class WorkbookError(ValueError):
    """The workbook cannot be read; the message is one line."""


@dataclass(frozen=True)
class Sheet:
    name: str
    table: pa.Table
    types: list[str]  # DuckDB type name per column


def read_workbook(path: Path) -> list[Sheet]:
    """Every sheet holding at least one value, in workbook order."""
    import openpyxl  # ~0.6 s to import: only when a share holds a workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # What a corrupt or unreadable workbook raises from openpyxl (a zip, its XML parts).
    read_errors = (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, SyntaxError)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except read_errors as e:
        raise WorkbookError(_describe(e)) from None
    try:
        sheets = [(ws.title, list(ws.iter_rows(values_only=True))) for ws in workbook.worksheets]
    except read_errors as e:
        raise WorkbookError(_describe(e)) from None
    finally:
        workbook.close()
    found = []
    for title, rows in sheets:
        kept = [row for row in rows if any(v is not None for v in row)]
        if kept:
            found.append(_sheet(title, kept))
    return found


def _describe(error: Exception) -> str:
    text = " ".join(str(error).split()) or "unreadable"
    return f"{type(error).__name__}: {text}"


def _sheet(title: str, rows: list[tuple]) -> Sheet:
    width = max(_last_value_index(row) for row in rows) + 1
    header, body = rows[0], rows[1:]
    names = _column_names([header[i] if i < len(header) else None for i in range(width)])
    arrays, types = [], []
    for index in range(width):
        values = [row[index] if index < len(row) else None for row in body]
        type_name, arrow_type, convert = _column_type(values)
        arrays.append(pa.array([None if v is None else convert(v) for v in values], arrow_type))
        types.append(type_name)
    return Sheet(title, pa.Table.from_arrays(arrays, names=names), types)


def _last_value_index(row: Sequence[Any]) -> int:
    return max(i for i, v in enumerate(row) if v is not None)


def _column_names(header: list[Any]) -> list[str]:
    names: list[str] = []
    used: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _text(cell).strip() if cell is not None else ""
        name = name or f"column{index}"
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        used.setdefault(name, 0)
        names.append(name)
    return names


_Converter = Callable[[Any], Any]


def _column_type(values: list[Any]) -> tuple[str, pa.DataType, _Converter]:
    present = [v for v in values if v is not None]
    kinds = {_kind(v) for v in present}
    if kinds == {"bool"}:
        return "BOOLEAN", pa.bool_(), bool
    if kinds == {"int"} and all(-_INT64 <= v < _INT64 for v in present):
        return "BIGINT", pa.int64(), int
    if kinds and kinds <= {"int", "float"}:
        return "DOUBLE", pa.float64(), float
    if kinds == {"datetime"}:
        if all(v.time() == dt.time() for v in present):
            return "DATE", pa.date32(), dt.datetime.date
        return "TIMESTAMP", pa.timestamp("us"), _identity
    if kinds == {"date"}:
        return "DATE", pa.date32(), _identity
    if kinds == {"time"}:
        return "TIME", pa.time64("us"), _identity
    if kinds == {"duration"}:
        return "INTERVAL", pa.month_day_nano_interval(), _interval
    return "VARCHAR", pa.string(), _text


def _kind(value: Any) -> str:
    # bool before int (bool is an int); datetime before date (datetime is a date).
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, dt.timedelta):
        return "duration"
    return "text"


def _identity(value: Any) -> Any:
    return value


def _interval(value: dt.timedelta) -> tuple[int, int, int]:
    return (0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000)


def _text(value: Any) -> str:
    """A cell as text, as DuckDB casts it: `true`, `2024-01-02 03:04:00`, `1.5`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)
