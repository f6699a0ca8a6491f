"""The error a connector raises when a source cannot be read."""

from __future__ import annotations

from ..config import ConfigError


class DiscoveryError(ConfigError):
    """A source that exists but cannot be scanned; one line naming the file and the source."""
