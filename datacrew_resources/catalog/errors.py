"""The error a connector raises when a source cannot be read, and the one it records for a dataset."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..config.errors import one_line
from .store import ScanError


class DiscoveryError(ConfigError):
    """A source that exists but cannot be scanned; one line naming the file and the source."""


# What reading one dataset may raise: our own one-line errors (a corrupt, empty or ragged
# file, a bad option for this dataset), an unreadable or vanished file (OSError) and a
# truncated gzip read by Python (EOFError). Anything else is a bug and is not swallowed.
DATASET_READ_ERRORS = (ConfigError, OSError, EOFError)


def dataset_failure(source: str, dataset: str, file: str | Path, error: Exception) -> ScanError:
    """`error`, met reading `dataset` of `source`, as the one-line `ScanError` naming the file."""
    if not isinstance(error, ConfigError):
        error = DiscoveryError(
            f"source {source!r}: cannot read ({type(error).__name__}: {one_line(str(error))})", file=str(file)
        )
    return ScanError(source, dataset, error.render())
