"""What the message-stream connectors (NATS, Redis) share: options, uris and errors.

A stream source's uri may carry credentials (`redis://user:secret@host`); the
password never leaves here: errors show the uri with `***` in its place, and
dataset locations drop the user part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import SourceConfig
from ..config.errors import from_pydantic
from ..config.platform import CONFIG_FILE
from .errors import DiscoveryError
from .models import DatasetRecord

# last_updated of a stream that never held a message: freshness checks see it as stale.
EPOCH = datetime.fromtimestamp(0, tz=UTC)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sample: int = Field(default=100, ge=1, description="most recent messages the schema is read from")


@dataclass(frozen=True)
class StreamScan:
    """A stream's record and how many messages this scan fetched to make it."""

    record: DatasetRecord
    messages_read: int


Options = TypeVar("Options", bound=StreamOptions)


def read_options(source: SourceConfig, model: type[Options]) -> Options:
    """The source's `options`; the first problem as a one-line ConfigError."""
    try:
        return model.model_validate(source.options)
    except ValidationError as e:
        raise from_pydantic(e, file=CONFIG_FILE, prefix=f"sources.{source.name}.options")[0] from None


def public_uri(uri: str) -> str:
    """The uri with its password, if any, replaced by `***`."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def stream_location(uri: str, *path: str | bytes) -> str:
    """`scheme://host:port/<path...>` without user or password; each path part %-quoted."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}/" + "/".join(quote(p, safe="") for p in path)


def source_error(source: SourceConfig, uri: str, problem: str) -> DiscoveryError:
    """One line naming the source and its uri (password masked)."""
    return DiscoveryError(f"source {source.name!r}: {problem}", file=public_uri(uri))
