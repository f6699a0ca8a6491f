"""Conditions are parsed into comparisons, never evaluated as code."""

from __future__ import annotations

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.delegation.conditions import (
    MISSING,
    Condition,
    parse_condition,
    parse_limit,
    quantity,
)


@pytest.mark.parametrize(
    ("raw", "op", "operand", "duration"),
    [
        (">= 0.8", ">=", 0.8, False),
        ("<= 0.8", "<=", 0.8, False),
        ("> 3", ">", 3.0, False),
        ("<3", "<", 3.0, False),
        ("!= 2", "!=", 2.0, False),
        ("<= 24_hours", "<=", 86400.0, True),
        ("< 30_minutes", "<", 1800.0, True),
        (">= 2_days", ">=", 172800.0, True),
        ("== enterprise", "==", "enterprise", False),
        ("!= sandbox", "!=", "sandbox", False),
        ("enterprise", "==", "enterprise", False),
        (True, "==", True, False),
        (False, "==", False, False),
        (3, "==", 3.0, False),
    ],
)
def test_parse(raw, op, operand, duration):
    c = parse_condition("k", raw)
    assert (c.key, c.op, c.operand, c.duration) == ("k", op, operand, duration)


@pytest.mark.parametrize(
    ("raw", "value", "expected"),
    [
        (">= 0.8", 0.8, True),
        (">= 0.8", 0.79, False),
        ("<= 0.8", 0.5, True),
        ("<= 0.8", 0.81, False),
        ("> 3", 4, True),
        ("> 3", 3, False),
        ("<= 24_hours", 86400, True),
        ("<= 24_hours", "12_hours", True),
        ("<= 24_hours", "2_days", False),
        ("== enterprise", "enterprise", True),
        ("== enterprise", "team", False),
        ("enterprise", "enterprise", True),
        (True, True, True),
        (True, False, False),
        (True, 1, False),  # a bool condition needs a bool fact
        (">= 0.8", True, False),  # and a number condition a number
        (">= 0.8", "high", False),
        (">= 0.8", None, False),
        ("> 3", "4_hours", False),  # a duration is not a plain number
        ("enterprise", 3, False),
    ],
)
def test_holds(raw, value, expected):
    assert parse_condition("k", raw).holds(value) is expected


def test_duration_fact_read_with_unit_suffix():
    c = parse_condition("sla_deadline", "<= 24_hours")
    assert c.read({"sla_deadline_hours": 12}) == 43200
    assert c.read({"sla_deadline_minutes": 30}) == 1800
    assert c.read({"sla_deadline": "3_hours"}) == "3_hours"
    assert c.read({"other": 1}) is MISSING
    assert parse_condition("x", ">= 1").read({"x_hours": 2}) is MISSING


def test_describe():
    assert parse_condition("data_complexity", ">=0.8").describe() == "data_complexity >= 0.8"
    assert parse_condition("business_impact", "enterprise").describe() == "business_impact == enterprise"
    assert parse_condition("pipeline_scope", True).describe() == "pipeline_scope == True"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (">= high", "delegation_rules[1].conditions.k: '>= high': 'high' is not a number or duration (e.g. 0.8, 3, 24_hours)"),
        ("=> 0.8", "delegation_rules[1].conditions.k: '=> 0.8': expected an operator (<=, >=, ==, !=, <, >) followed by a value"),
        (">=", "delegation_rules[1].conditions.k: '>=': expected an operator (<=, >=, ==, !=, <, >) followed by a value"),
        ("<= 24_weeks", "delegation_rules[1].conditions.k: '<= 24_weeks': '24_weeks' is not a number or duration (e.g. 0.8, 3, 24_hours)"),
        ("__import__('os').system('x')", "delegation_rules[1].conditions.k: \"__import__('os').system('x')\": a plain condition must be one word, a number or true/false"),
        ("", "delegation_rules[1].conditions.k: '': empty condition"),
        ([1, 2], "delegation_rules[1].conditions.k: [1, 2]: a condition must be a comparison such as '>= 0.8', a word, a number or true/false"),
        (None, "delegation_rules[1].conditions.k: None: a condition must be a comparison such as '>= 0.8', a word, a number or true/false"),
    ],
)
def test_malformed(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_condition("k", raw, where="delegation_rules[1].conditions")
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_quantity_and_limits():
    assert quantity("2_hours") == (7200.0, True)
    assert quantity(5) == (5.0, False)
    assert quantity(True) is None
    assert parse_limit("time", "2_hours") == 7200.0
    with pytest.raises(ConfigError, match=r"^rl\.cpu: 'lots': a resource limit must be a number"):
        parse_limit("cpu", "lots", where="rl")


def test_condition_is_plain_data():
    assert parse_condition("k", "> 3") == Condition("k", ">", 3.0, False, "> 3")
