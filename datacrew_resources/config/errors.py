"""The one error type for bad input: always one line naming file, field and value."""

from __future__ import annotations

from typing import Any


def one_line(text: str) -> str:
    """Any message folded onto one line (errors are reported one per line)."""
    return " ".join(str(text).split())


def first_line(error: BaseException) -> str:
    """The first line of an exception's message: DuckDB appends context lines we don't show."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(ValueError):
    """Bad configuration or spec input, rendered as `file: field: value: problem`."""

    def __init__(self, problem: str, *, file: str = "", field: str = "", value: Any = ...):
        self.file = str(file)
        self.field = field
        self.value = value
        self.problem = one_line(problem)
        super().__init__(self.render())

    def render(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        if self.value is not ...:
            parts.append(_show(self.value))
        parts.append(self.problem)
        return ": ".join(parts)


class ConfigErrors(ValueError):
    """Several `ConfigError`s found in one pass, one line each."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


def from_pydantic(exc: Any, *, file: str, prefix: str = "") -> list[ConfigError]:
    """Turn a pydantic ValidationError into one ConfigError per problem."""
    errors = []
    for item in exc.errors():
        loc = item.get("loc", ())
        field = prefix
        previous = None
        for part in loc:
            # A tagged union repeats the tag (`join.join.on`): show it once.
            if part == previous:
                continue
            previous = part
            if isinstance(part, int):
                field += f"[{part}]"
            elif part not in ("function-after", "function-before", "function-wrap"):
                field += f".{part}" if field else str(part)
        message = item.get("msg", "invalid").removeprefix("Value error, ")
        # Not echoed: a missing field's "input" (the parent mapping), a whole-model
        # error's, or a whole list's (the problem names the offending item).
        value = item.get("input", ...)
        if item.get("type") == "missing" or not loc or isinstance(value, list):
            value = ...
        errors.append(ConfigError(message, file=file, field=field, value=value))
    return errors
