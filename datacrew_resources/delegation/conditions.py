"""Delegation rule conditions (`">= 0.8"`, `"<= 24_hours"`, `"enterprise"`) parsed, never evaluated."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from datacrew_resources.config.errors import ConfigError

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq,
    "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
_EXPRESSION = re.compile(r"(<=|>=|==|!=|<|>)\s*([^\s<>=!].*?)\s*")
_QUANTITY = re.compile(r"(-?\d+(?:\.\d+)?)(?:_(seconds|minutes|hours|days))?")
_WORD = re.compile(r"[A-Za-z_][\w\-]*")
MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def quantity(value: Any) -> tuple[float, bool] | None:
    """A number, or a duration such as '24_hours' in seconds: (amount, is_duration); None if neither."""
    if _is_number(value):
        return float(value), False
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value.strip())
        if match:
            number, unit = match.groups()
            return float(number) * UNIT_SECONDS.get(unit or "seconds", 1), unit is not None
    return None


@dataclass(frozen=True)
class Condition:
    """`<fact key> <op> <operand>`; `text` is the configured value as written."""

    key: str
    op: str
    operand: Any
    duration: bool = False
    text: str = ""

    def describe(self) -> str:
        shown = self.text if self.text.startswith(tuple(OPERATORS)) else f"== {self.text}"
        return f"{self.key} {shown}"

    def read(self, facts: Mapping[str, Any]) -> Any:
        """The fact this condition reads, or MISSING.

        A duration condition also reads `<key>_seconds|_minutes|_hours|_days` as a number in that unit;
        `<key>` itself may be a duration string ('12_hours') or a number of seconds.
        """
        if self.key in facts:
            return facts[self.key]
        if self.duration:
            for unit, seconds in UNIT_SECONDS.items():
                value = facts.get(f"{self.key}_{unit}", MISSING)
                if _is_number(value):
                    return value * seconds
        return MISSING

    def holds(self, value: Any) -> bool:
        """Whether a fact value satisfies the condition; a value of the wrong kind never does."""
        if isinstance(self.operand, float):
            parsed = quantity(value)
            if parsed is None or (parsed[1] and not self.duration):
                return False
            return OPERATORS[self.op](parsed[0], self.operand)
        if isinstance(self.operand, bool) or isinstance(value, bool):
            return type(value) is type(self.operand) and OPERATORS[self.op](value, self.operand)
        return OPERATORS[self.op](value, self.operand)


def parse_condition(key: str, raw: Any, *, where: str = "conditions") -> Condition:
    """Parse one configured condition; a malformed one raises a one-line ConfigError at `where.key`."""

    def bad(problem: str) -> ConfigError:
        return ConfigError(problem, field=f"{where}.{key}", value=raw)

    if isinstance(raw, bool):
        return Condition(key, "==", raw, text=str(raw))
    if _is_number(raw):
        return Condition(key, "==", float(raw), text=str(raw))
    if not isinstance(raw, str):
        raise bad("a condition must be a comparison such as '>= 0.8', a word, a number or true/false")
    text = raw.strip()
    if not text:
        raise bad("empty condition")
    if text[0] not in "<>=!":
        if not _WORD.fullmatch(text):
            raise bad("a plain condition must be one word, a number or true/false")
        return Condition(key, "==", text, text=text)
    match = _EXPRESSION.fullmatch(text)
    if not match:
        raise bad("expected an operator (<=, >=, ==, !=, <, >) followed by a value")
    op, operand = match.groups()
    parsed = quantity(operand)
    if parsed is not None:
        return Condition(key, op, parsed[0], duration=parsed[1], text=f"{op} {operand}")
    if op in ("==", "!=") and _WORD.fullmatch(operand):
        return Condition(key, op, operand, text=f"{op} {operand}")
    raise bad(f"{operand!r} is not a number or duration (e.g. 0.8, 3, 24_hours)")


def parse_conditions(conditions: Mapping[str, Any], *, where: str = "conditions") -> tuple[Condition, ...]:
    return tuple(parse_condition(key, raw, where=where) for key, raw in conditions.items())


def parse_limit(key: str, raw: Any, *, where: str = "resource_limits") -> float:
    """A resource limit: a number or a duration ('2_hours' -> 7200.0)."""
    parsed = quantity(raw)
    if parsed is None:
        raise ConfigError("a resource limit must be a number or a duration such as '2_hours'",
                          field=f"{where}.{key}", value=raw)
    return parsed[0]


__all__ = ["Condition", "MISSING", "parse_condition", "parse_conditions", "parse_limit", "quantity"]
