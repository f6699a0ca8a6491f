"""NATS JetStream connector: one dataset per stream of a `nats://host:port` server.

Options: `streams` (the names to read; default every stream of the account)
and `sample` (default 100). Each message must be one JSON object.

What a record holds:
- message count and size: the stream's state (`messages`, `bytes`);
- schema, nullability and quality score: from the `sample` most recent
  messages (`catalog.messages`: a window of type signatures, no values);
- last_updated: the timestamp of the newest message read (the last event),
  else the stream's creation time (a stream that never held a message);
- stream_position: the last sequence read, the sample window, and the
  stream's creation time as fingerprint.

A rescan resumes after the position: it reads only messages with a higher
sequence (the newest `sample` of them), slides them into the window, and
reads nothing when none came. It starts over when the stream was recreated
(another creation time) or the record's location changed.

Messages are read with the JetStream API's message get ("next message at or
after sequence n"): it creates nothing on the server (no consumer to clean
up) and steps over deleted sequences.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamManager
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError, ServiceUnavailableError
from pydantic import Field

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .messages import NotJsonError, columns, json_object, signature, slide, window_completeness
from .models import DatasetRecord, StreamPosition
from .names import check_unique_names, dataset_name
from .stream_source import EPOCH, StreamOptions, StreamScan, public_uri, read_options, source_error, stream_location

FORMAT = "nats_stream"
TIMEOUT_SECONDS = 5.0


class NatsOptions(StreamOptions):
    streams: list[str] | None = Field(default=None, min_length=1, description="stream names; default all")


def scan_nats_streams(
    source: SourceConfig, url: str, previous: Mapping[str, DatasetRecord]
) -> list[DatasetRecord]:
    """Every stream of the server at `url`, sorted by name, resuming from `previous`
    (this source's records by dataset name)."""
    return [scan.record for scan in read_nats_streams(source, url, previous)]


def read_nats_streams(
    source: SourceConfig, url: str, previous: Mapping[str, DatasetRecord]
) -> list[StreamScan]:
    options = read_options(source, NatsOptions)
    if urlsplit(url).path.strip("/"):
        raise source_error(source, url, "a nats uri names a server only; list streams in options.streams")
    return asyncio.run(_read(source, url, options, previous))


async def _read(
    source: SourceConfig, url: str, options: NatsOptions, previous: Mapping[str, DatasetRecord]
) -> list[StreamScan]:
    client = await _connect(source, url)
    try:
        jsm = client.jsm(timeout=TIMEOUT_SECONDS)
        infos = await _stream_infos(source, url, jsm, options.streams)
        named = [(dataset_name(i.config.name, source=source.name, file=public_uri(url)), i) for i in infos]
        check_unique_names(source.name, [(n, i.config.name) for n, i in named], file=public_uri(url))
        return [
            await _Stream(jsm, source, url, options.sample, name, info).scan(previous.get(name))
            for name, info in named
        ]
    except ServiceUnavailableError:
        raise source_error(source, url, "JetStream is not enabled on this server") from None
    except (nats.errors.Error, asyncio.TimeoutError) as e:
        raise source_error(source, url, f"JetStream request failed ({first_line(e)})") from None
    finally:
        await client.close()


async def _connect(source: SourceConfig, url: str) -> Client:
    problems: list[Exception] = []

    async def note(error: Exception) -> None:
        problems.append(error)

    try:
        # One pass over the server (max_reconnect_attempts=0 would mean: retry forever).
        return await nats.connect(
            servers=[url],
            connect_timeout=TIMEOUT_SECONDS,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=note,
        )
    except (nats.errors.Error, OSError, asyncio.TimeoutError) as e:
        # NoServersError only says none was left; the callback saw why (refused, authorization).
        cause = problems[-1] if problems else e
        raise source_error(source, url, f"cannot connect to NATS ({first_line(cause)})") from None


async def _stream_infos(
    source: SourceConfig, url: str, jsm: JetStreamManager, names: list[str] | None
) -> list[StreamInfo]:
    if names is None:
        infos: list[StreamInfo] = []
        while True:  # the server lists streams a page at a time
            page = await jsm.streams_info_iterator(offset=len(infos))
            infos.extend(page)
            if not page.streams or len(infos) >= page.total:
                return sorted(infos, key=lambda i: i.config.name)
    infos = []
    for name in names:
        try:
            infos.append(await jsm.stream_info(name))
        except NotFoundError:
            raise source_error(source, url, f"stream {name!r} does not exist") from None
        except ValueError as e:  # the client refuses names with `.`, `*`, `>` or spaces
            raise source_error(source, url, first_line(e)) from None
    return infos


class _Stream:
    """One JetStream stream being scanned."""

    def __init__(
        self, jsm: JetStreamManager, source: SourceConfig, url: str, sample: int, name: str, info: StreamInfo
    ):
        self.jsm, self.source, self.url, self.sample, self.name, self.info = jsm, source, url, sample, name, info
        self.stream = info.config.name
        self.location = stream_location(url, self.stream)
        self.fingerprint = info.created.isoformat() if info.created else ""

    async def scan(self, previous: DatasetRecord | None) -> StreamScan:
        state = self.info.state
        position = self._resumable(previous)
        after = int(position.last) if position else 0
        start = max(after + 1, state.last_seq - self.sample + 1, state.first_seq)
        signatures, newest = [], None
        sequence = start
        while sequence <= state.last_seq:
            try:
                message = await self.jsm.get_msg(self.stream, seq=sequence, subject=">", next=True)
            except NotFoundError:  # the rest was deleted since the state was read
                break
            if message.seq > state.last_seq:  # published after the state: the next scan reads it
                break
            signatures.append(self._signature(message.seq, message.data))
            newest = message.time
            sequence = message.seq + 1
        window = slide(position.window if position else [], signatures, self.sample)
        last_event = newest or (position.last_event_time if position else None)
        record = DatasetRecord(
            source=self.source.name,
            source_type=SourceType.streaming,
            dataset_name=self.name,
            description=self.info.config.description or self._description(),
            format=FORMAT,
            location=self.location,
            columns=columns(window),
            record_count=state.messages,
            size_bytes=state.bytes,
            last_updated=last_event or self.info.created or EPOCH,
            owner=self.source.owner,
            quality_score=window_completeness(window),
            stream_position=StreamPosition(
                last=str(max(after, state.last_seq)),
                items=state.messages,
                fingerprint=self.fingerprint,
                last_event_time=last_event,
                window=window,
            ),
        )
        return StreamScan(record, len(signatures))

    def _description(self) -> str:
        subjects = self.info.config.subjects
        return f"JetStream stream {self.stream}" + (f" (subjects: {', '.join(subjects)})" if subjects else "")

    def _resumable(self, previous: DatasetRecord | None) -> StreamPosition | None:
        """The previous position when it belongs to this very stream, else None (read afresh)."""
        position = previous.stream_position if previous else None
        if (
            position is None
            or previous.format != FORMAT
            or previous.location != self.location
            or position.fingerprint != self.fingerprint
            or not position.last.isdigit()
            or int(position.last) > self.info.state.last_seq
        ):
            return None
        return position

    def _signature(self, sequence: int, payload: bytes | None) -> dict[str, str]:
        try:
            return signature(json_object(payload or b""))
        except NotJsonError as e:
            raise source_error(self.source, self.url, f"stream {self.stream!r} message {sequence}: {e}") from None
