"""Dataset names: lowercase snake_case, as asset keys require."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^a-z0-9]+")


def dataset_name(raw: str) -> str:
    """`Flight Delays-2013` -> `flight_delays_2013`; a leading digit gets a `ds_` prefix."""
    name = _NON_WORD.sub("_", raw.lower()).strip("_")
    if not name:
        raise ValueError(f"cannot derive a dataset name from {raw!r}")
    return name if name[0].isalpha() else f"ds_{name}"
