"""Dataset names: lowercase snake_case, as asset keys require, and unique within a source."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import DiscoveryError

_NON_WORD = re.compile(r"[^a-z0-9]+")


def dataset_name(raw: str, *, source: str, file: str) -> str:
    """`Flight Delays-2013` -> `flight_delays_2013`; a leading digit gets a `ds_` prefix.

    `source` and `file` name where `raw` came from, for the error when no name is left.
    """
    name = _NON_WORD.sub("_", raw.lower()).strip("_")
    if not name:
        raise DiscoveryError(
            f"source {source!r}: cannot derive a dataset name from {raw!r} (no letters or digits)",
            file=file,
        )
    return name if name[0].isalpha() else f"ds_{name}"


def check_unique_names(source: str, named: Iterable[tuple[str, str]], *, file: str) -> None:
    """Refuse two datasets of one source with the same name.

    `named` holds (dataset name, origin) pairs; the origin (a lake entry, a
    `schema.table`) is what the error shows for both clashing datasets.
    """
    seen: dict[str, str] = {}
    for name, origin in named:
        if name in seen:
            raise DiscoveryError(
                f"source {source!r}: dataset name {name!r} is used twice ({seen[name]} and {origin})",
                file=file,
            )
        seen[name] = origin
