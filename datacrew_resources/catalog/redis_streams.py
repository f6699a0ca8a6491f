"""Redis Streams connector: one dataset per stream key of a `redis://host:port/db` database.

Options: `pattern` (a SCAN MATCH glob, default `*`) and `sample` (default
100). The streams are the keys `SCAN ... TYPE stream` finds.

What a record holds:
- message count: the stream's length (XLEN); size: Redis's MEMORY USAGE estimate;
- schema, nullability and quality score: from the `sample` most recent
  entries (`catalog.messages`). An entry is a map of text fields; a value
  that parses as JSON counts as that JSON value (`12` is BIGINT, `true`
  BOOLEAN, `{"a": 1}` JSON), any other text as VARCHAR (DATE or TIMESTAMP
  when ISO-8601 shaped);
- last_updated: the millisecond part of the stream's last entry id (ids are
  `<unix ms>-<n>`, stamped by the server when the producer lets it);
- stream_position: the last entry id read and the sample window.

A rescan resumes after the position (`XREVRANGE key + (<last> COUNT sample`):
it reads only entries added since, the newest `sample` of them, and nothing
when none came. It starts over when the position lies beyond the stream's
last generated id (the key was deleted and recreated) or the record's
location changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from pydantic import Field

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .messages import columns, parse_json, signature, slide, window_completeness
from .models import DatasetRecord, StreamPosition
from .names import check_unique_names, dataset_name
from .stream_source import EPOCH, StreamOptions, StreamScan, public_uri, read_options, source_error, stream_location

FORMAT = "redis_stream"
TIMEOUT_SECONDS = 5.0


class RedisOptions(StreamOptions):
    pattern: str = Field(default="*", min_length=1, description="SCAN MATCH glob of the stream keys")


def scan_redis_streams(
    source: SourceConfig, url: str, previous: Mapping[str, DatasetRecord]
) -> list[DatasetRecord]:
    """Every stream key matching the pattern, sorted by key, resuming from `previous`
    (this source's records by dataset name)."""
    return [scan.record for scan in read_redis_streams(source, url, previous)]


def read_redis_streams(
    source: SourceConfig, url: str, previous: Mapping[str, DatasetRecord]
) -> list[StreamScan]:
    options = read_options(source, RedisOptions)
    # redis-py ignores a path that is not a number and reads database 0 instead.
    database_path = urlsplit(url).path.strip("/")
    if database_path and not database_path.isdigit():
        raise source_error(source, url, "the uri's path must be a database number (redis://host:6379/0)")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    except ValueError as e:
        raise source_error(source, url, f"not a usable redis uri ({first_line(e)})") from None
    database = str(client.get_connection_kwargs().get("db", 0))
    with client:
        try:
            keys = sorted(set(client.scan_iter(match=options.pattern, _type="stream", count=1000)))
            streams = [
                _Stream(client, source, url, options.sample, key, stream_location(url, database, key)) for key in keys
            ]
            check_unique_names(source.name, [(s.name, s.shown) for s in streams], file=public_uri(url))
            return [stream.scan(previous.get(stream.name)) for stream in streams]
        except redis.ConnectionError as e:  # refused, timed out, or AUTH failed
            raise source_error(source, url, f"cannot connect to Redis ({first_line(e)})") from None
        except redis.RedisError as e:
            raise source_error(source, url, f"Redis request failed ({first_line(e)})") from None


def _entry_id(raw: bytes | str) -> tuple[int, int]:
    """`b"1795000000000-3"` -> (1795000000000, 3), comparable in stream order."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


class _Stream:
    """One stream key being scanned."""

    def __init__(self, client: redis.Redis, source: SourceConfig, url: str, sample: int, key: bytes, location: str):
        self.client, self.source, self.url, self.sample, self.key, self.location = (
            client, source, url, sample, key, location
        )
        self.shown = key.decode(errors="backslashreplace")  # keys are binary-safe; names and errors want text
        self.name = dataset_name(self.shown, source=source.name, file=public_uri(url))

    def scan(self, previous: DatasetRecord | None) -> StreamScan:
        info = self.client.xinfo_stream(self.key)
        last_generated = _entry_id(info["last-generated-id"])
        position = self._resumable(previous, last_generated)
        lowest = f"({position.last}" if position else "-"
        entries = self.client.xrevrange(self.key, max="+", min=lowest, count=self.sample)[::-1]
        signatures = [self._signature(entry_id, fields) for entry_id, fields in entries]
        window = slide(position.window if position else [], signatures, self.sample)
        last = entries[-1][0].decode() if entries else (position.last if position else "0-0")
        newest = max(last_generated, _entry_id(last))
        last_event = datetime.fromtimestamp(newest[0] / 1000, tz=UTC) if newest > (0, 0) else None
        record = DatasetRecord(
            source=self.source.name,
            source_type=SourceType.streaming,
            dataset_name=self.name,
            description=f"Redis stream {self.shown}",
            format=FORMAT,
            location=self.location,
            columns=columns(window),
            record_count=info["length"],
            size_bytes=self.client.memory_usage(self.key) or 0,
            last_updated=last_event or EPOCH,
            owner=self.source.owner,
            quality_score=window_completeness(window),
            stream_position=StreamPosition(
                last=last, items=info["length"], last_event_time=last_event, window=window
            ),
        )
        return StreamScan(record, len(signatures))

    def _resumable(self, previous: DatasetRecord | None, last_generated: tuple[int, int]) -> StreamPosition | None:
        """The previous position when it can still be in this stream, else None (read afresh)."""
        position = previous.stream_position if previous else None
        if position is None or previous.format != FORMAT or previous.location != self.location:
            return None
        try:
            last = _entry_id(position.last)
        except ValueError:
            return None
        return position if last <= last_generated else None

    def _signature(self, entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, str]:
        decoded: dict[str, Any] = {}
        for raw_name, raw_value in fields.items():
            try:
                name, text = raw_name.decode(), raw_value.decode()
            except UnicodeDecodeError:
                raise source_error(
                    self.source,
                    self.url,
                    f"stream {self.shown!r} entry {entry_id.decode()}: field {raw_name!r} is not UTF-8 text",
                ) from None
            decoded[name] = _value(text)
        return signature(decoded)


def _value(text: str) -> Any:
    """A field's JSON value when it is JSON text, else the text itself."""
    try:
        return parse_json(text)
    except ValueError:
        return text
