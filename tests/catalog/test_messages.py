"""Schema inference from windows of message signatures (no server needed)."""

from __future__ import annotations

import pytest

from datacrew_resources.catalog.messages import (
    NotJsonError,
    columns,
    common_type,
    json_object,
    signature,
    slide,
    value_type,
    window_completeness,
)
from datacrew_resources.catalog.models import ColumnInfo


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "NULL"),
        (True, "BOOLEAN"),
        (7, "BIGINT"),
        (2**63, "HUGEINT"),
        (2**127, "DOUBLE"),
        (1.5, "DOUBLE"),
        ("text", "VARCHAR"),
        ("2026-11-24", "DATE"),
        ("2026-13-45", "VARCHAR"),
        ("2026-11-24T10:00:00", "TIMESTAMP"),
        ("2026-11-24 10:00:00.123456789", "TIMESTAMP"),
        ("2026-11-24T10:00:00Z", "TIMESTAMP WITH TIME ZONE"),
        ("2026-11-24T10:00:00.5+01:00", "TIMESTAMP WITH TIME ZONE"),
        ([1, 2], "JSON"),
        ({"a": 1}, "JSON"),
    ],
)
def test_value_types_follow_duckdb(value, expected):
    assert value_type(value) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("BIGINT", "DOUBLE", "DOUBLE"),
        ("HUGEINT", "BIGINT", "HUGEINT"),
        ("DATE", "TIMESTAMP", "TIMESTAMP"),
        ("DATE", "TIMESTAMP WITH TIME ZONE", "VARCHAR"),
        ("BIGINT", "VARCHAR", "VARCHAR"),
        ("BOOLEAN", "BIGINT", "VARCHAR"),
        ("JSON", "BIGINT", "JSON"),
    ],
)
def test_common_types_widen_numbers_and_times_else_fall_back(left, right, expected):
    assert common_type(left, right) == expected == common_type(right, left)


def test_columns_in_order_of_appearance_nullable_when_missing_or_null():
    window = [
        signature({"id": 1, "note": None}),
        signature({"id": 2.5, "when": "2026-11-24"}),
        signature({"id": 3, "when": "2026-11-24T10:00:00", "note": None}),
    ]

    assert columns(window) == [
        ColumnInfo(name="id", type="DOUBLE", nullable=False),
        ColumnInfo(name="note", type="JSON", nullable=True),
        ColumnInfo(name="when", type="TIMESTAMP", nullable=True),
    ]
    assert window_completeness(window) == round(5 / 9, 4)
    assert (columns([]), window_completeness([])) == ([], None)


def test_the_window_keeps_the_most_recent_signatures():
    assert slide([{"a": "BIGINT"}, {"b": "BIGINT"}], [{"c": "BIGINT"}], 2) == [{"b": "BIGINT"}, {"c": "BIGINT"}]
    assert slide([{"a": "BIGINT"}], [], 5) == [{"a": "BIGINT"}]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "payload is not JSON (Expecting value: line 1 column 1 (char 0))"),
        (b'{"a": NaN}', "payload is not JSON (NaN is not JSON)"),
        (b"\xff", "payload is not JSON ("),
        (b"[1]", "payload is JSON list, not an object"),
    ],
)
def test_a_payload_must_be_one_json_object(payload, problem):
    with pytest.raises(NotJsonError) as info:
        json_object(payload)
    assert str(info.value).startswith(problem)
