"""The NATS JetStream connector against the server on 127.0.0.1:4222 (and private ones it starts).

Every test creates its streams under unique names and deletes them afterwards.
The server must be running: these tests fail, never skip, without it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import nats
import pytest
from nats.js.api import StorageType, StreamInfo

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.models import ColumnInfo
from datacrew_resources.catalog.nats_streams import read_nats_streams, scan_nats_streams
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

NATS_URL = "nats://127.0.0.1:4222"


async def _connect(url: str) -> nats.aio.client.Client:
    # One attempt: an unreachable server fails the test at once instead of retrying for minutes.
    return await nats.connect(servers=[url], allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0)


class Streams:
    """JetStream streams of one server, created under unique names by a test and deleted after it."""

    def __init__(self, url: str):
        self.url = url
        self.created: list[str] = []

    def _run(self, action):
        async def run():
            client = await _connect(self.url)
            try:
                return await action(client)
            finally:
                await client.close()

        return asyncio.run(run())

    def create(self, count: int = 1) -> list[str]:
        names = [f"T_{uuid.uuid4().hex}" for _ in range(count)]

        async def add(client):
            for name in names:
                await client.jsm().add_stream(name=name, subjects=[f"{name}.>"], storage=StorageType.MEMORY)

        self.created += names
        self._run(add)
        return names

    def publish(self, name: str, *payloads: dict | bytes) -> None:
        async def publish(client):
            js = client.jetstream()
            for payload in payloads:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                await js.publish(f"{name}.events", data)

        self._run(publish)

    def info(self, name: str) -> StreamInfo:
        return self._run(lambda client: client.jsm().stream_info(name))

    def message_time(self, name: str, sequence: int) -> datetime:
        return self._run(lambda client: client.jsm().get_msg(name, seq=sequence)).time

    def recreate(self, name: str) -> None:
        """Delete the stream and create an empty one under the same name."""

        async def recreate(client):
            await client.jsm().delete_stream(name)
            await client.jsm().add_stream(name=name, subjects=[f"{name}.>"], storage=StorageType.MEMORY)

        self._run(recreate)

    def delete_created(self) -> None:
        async def delete(client):
            existing = {info.config.name for info in await client.jsm().streams_info()}
            for name in self.created:
                if name in existing:
                    await client.jsm().delete_stream(name)

        self._run(delete)


@pytest.fixture
def streams() -> Iterator[Streams]:
    created = Streams(NATS_URL)
    yield created
    created.delete_created()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nats_server(*arguments: str) -> Iterator[int]:
    """A nats-server of our own on a free port, stopped afterwards; yields the port."""
    binary = shutil.which("nats-server") or pytest.fail("nats-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while process.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
        else:
            pytest.fail(f"nats-server exited with {process.returncode} before listening on {port}")
        yield port
    finally:
        process.terminate()
        process.wait()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[str]:
    """A JetStream server of our own (user alice, password secret), for listing and credentials."""
    with nats_server("-js", "-sd", str(tmp_path / "jetstream"), "--user", "alice", "--pass", "secret") as port:
        yield f"nats://alice:secret@127.0.0.1:{port}"


@pytest.fixture
def server_without_jetstream() -> Iterator[str]:
    with nats_server() as port:
        yield f"nats://127.0.0.1:{port}"


def source(uri: str = NATS_URL, **options) -> SourceConfig:
    return SourceConfig(name="bus", type=SourceType.streaming, uri=uri, owner="team:events", options=options)


def dataset(stream: str) -> str:
    return stream.lower()


ORDER = {"id": 1, "amount": 12.5, "placed_at": "2026-11-24T10:00:00Z", "tags": ["a"], "note": None}


def test_a_stream_is_a_dataset_with_sampled_schema_count_and_last_event(streams):
    [name] = streams.create()
    streams.publish(name, ORDER, {"id": 2, "amount": 3, "placed_at": "2026-11-24T10:05:00Z", "tags": []})
    info = streams.info(name)

    [scan] = read_nats_streams(source(streams=[name]), NATS_URL, {})

    record = scan.record
    assert scan.messages_read == 2
    assert (record.source, record.source_type, record.dataset_name) == ("bus", SourceType.streaming, dataset(name))
    assert (record.format, record.location) == ("nats_stream", f"{NATS_URL}/{name}")
    assert record.columns == [
        ColumnInfo(name="id", type="BIGINT", nullable=False),
        ColumnInfo(name="amount", type="DOUBLE", nullable=False),
        ColumnInfo(name="placed_at", type="TIMESTAMP WITH TIME ZONE", nullable=False),
        ColumnInfo(name="tags", type="JSON", nullable=False),
        ColumnInfo(name="note", type="JSON", nullable=True),
    ]
    assert (record.record_count, record.size_bytes) == (2, info.state.bytes)
    assert record.last_updated == streams.message_time(name, 2)
    assert record.quality_score == 0.8  # 8 of 10 cells: `note` is null in one message, absent in the other
    assert (record.owner, record.description) == ("team:events", f"JetStream stream {name} (subjects: {name}.>)")
    position = record.stream_position
    assert (position.last, position.items, position.last_event_time) == ("2", 2, record.last_updated)
    assert position.fingerprint == info.created.isoformat()


def test_the_schema_comes_from_the_most_recent_messages_only(streams):
    [name] = streams.create()
    streams.publish(name, {"legacy": "x"}, {"legacy": "y"}, {"id": 1}, {"id": 2}, {"id": 3})

    [scan] = read_nats_streams(source(streams=[name], sample=3), NATS_URL, {})

    assert scan.messages_read == 3
    assert scan.record.columns == [ColumnInfo(name="id", type="BIGINT", nullable=False)]
    assert scan.record.record_count == 5


def test_a_rescan_reads_only_the_messages_added_since(streams):
    [name] = streams.create()
    streams.publish(name, {"id": 1}, {"id": 2}, {"id": 3})
    [first] = read_nats_streams(source(streams=[name]), NATS_URL, {})
    streams.publish(name, {"id": 4, "channel": "web"}, {"id": 5.5, "channel": "app"})

    [second] = read_nats_streams(source(streams=[name]), NATS_URL, {dataset(name): first.record})

    assert (first.messages_read, second.messages_read) == (3, 2)
    assert second.record.columns == [
        ColumnInfo(name="id", type="DOUBLE", nullable=False),
        ColumnInfo(name="channel", type="VARCHAR", nullable=True),
    ]
    assert (second.record.record_count, second.record.stream_position.last) == (5, "5")
    assert second.record.last_updated == streams.message_time(name, 5)

    [third] = read_nats_streams(source(streams=[name]), NATS_URL, {dataset(name): second.record})

    assert third.messages_read == 0
    assert third.record == second.record


def test_the_window_slides_over_rescans(streams):
    [name] = streams.create()
    streams.publish(name, {"old": 1}, {"old": 2})
    [first] = read_nats_streams(source(streams=[name], sample=2), NATS_URL, {})
    streams.publish(name, {"new": 1}, {"new": 2})

    [second] = read_nats_streams(source(streams=[name], sample=2), NATS_URL, {dataset(name): first.record})

    assert second.messages_read == 2
    assert [c.name for c in second.record.columns] == ["new"]


def test_a_recreated_stream_is_read_from_the_start(streams):
    [name] = streams.create()
    streams.publish(name, {"id": 1}, {"id": 2}, {"id": 3})
    [first] = read_nats_streams(source(streams=[name]), NATS_URL, {})
    streams.recreate(name)
    streams.publish(name, {"code": "a"}, {"code": "b"}, {"code": "c"}, {"code": "d"})

    [second] = read_nats_streams(source(streams=[name]), NATS_URL, {dataset(name): first.record})

    assert second.messages_read == 4
    assert second.record.columns == [ColumnInfo(name="code", type="VARCHAR", nullable=False)]


def test_without_a_stream_list_every_stream_of_the_server_is_read(private_server):
    # More streams than the server lists on one page (256).
    server = Streams(private_server)
    names = sorted(server.create(300))
    server.publish(names[-1], {"id": 1})

    records = scan_nats_streams(source(private_server), private_server, {})

    assert [r.dataset_name for r in records] == [dataset(n) for n in names]
    assert [r.record_count for r in records] == [0] * 299 + [1]
    empty = records[0]
    assert (empty.columns, empty.quality_score) == ([], None)
    assert empty.last_updated == server.info(names[0]).created
    assert records[-1].location == f"nats://127.0.0.1:{private_server.rsplit(':', 1)[1]}/{names[-1]}"


def test_an_unreachable_server_is_one_line_naming_source_and_uri():
    uri = f"nats://127.0.0.1:{_free_port()}"

    with pytest.raises(DiscoveryError) as info:
        scan_nats_streams(source(uri), uri, {})

    message = str(info.value)
    assert message.startswith(f"{uri}: source 'bus': cannot connect to NATS (")
    assert "Connect call failed" in message and "\n" not in message


def test_bad_credentials_are_reported_with_the_password_masked(private_server):
    port = private_server.rsplit(":", 1)[1]
    uri = f"nats://alice:wrong@127.0.0.1:{port}"

    with pytest.raises(DiscoveryError) as info:
        scan_nats_streams(source(uri), uri, {})

    assert str(info.value) == (
        f"nats://alice:***@127.0.0.1:{port}: source 'bus': cannot connect to NATS (nats: 'Authorization Violation')"
    )


def test_a_server_without_jetstream_is_an_error(server_without_jetstream):
    uri = server_without_jetstream

    with pytest.raises(DiscoveryError) as info:
        scan_nats_streams(source(uri), uri, {})

    assert str(info.value) == f"{uri}: source 'bus': JetStream is not enabled on this server"


def test_a_message_that_is_not_a_json_object_names_stream_and_sequence(streams):
    [name] = streams.create()
    streams.publish(name, {"id": 1}, b"id=2")

    with pytest.raises(DiscoveryError) as info:
        scan_nats_streams(source(streams=[name]), NATS_URL, {})
    assert str(info.value).startswith(f"{NATS_URL}: source 'bus': stream '{name}' message 2: payload is not JSON (")
    assert "\n" not in str(info.value)

    streams.publish(name, [1, 2])
    with pytest.raises(DiscoveryError, match=f"stream '{name}' message 3: payload is JSON list, not an object$"):
        scan_nats_streams(source(streams=[name], sample=1), NATS_URL, {})


def test_a_listed_stream_that_does_not_exist_is_an_error():
    missing = f"T_{uuid.uuid4().hex}"

    with pytest.raises(DiscoveryError) as info:
        scan_nats_streams(source(streams=[missing]), NATS_URL, {})

    assert str(info.value) == f"{NATS_URL}: source 'bus': stream '{missing}' does not exist"


def test_bad_options_and_uris_are_config_errors():
    with pytest.raises(ConfigError) as info:
        scan_nats_streams(source(sample=0), NATS_URL, {})
    assert str(info.value) == (
        "datacrew.yaml: sources.bus.options.sample: 0: Input should be greater than or equal to 1"
    )

    with pytest.raises(ConfigError, match=r"sources\.bus\.options\.topic: .*Extra inputs are not permitted"):
        scan_nats_streams(source(topic="x"), NATS_URL, {})

    with pytest.raises(DiscoveryError, match="a nats uri names a server only; list streams in options.streams"):
        scan_nats_streams(source(f"{NATS_URL}/ORDERS"), f"{NATS_URL}/ORDERS", {})


def test_discover_resumes_from_the_catalog_and_keeps_it_when_a_stream_goes_bad(tmp_path, streams):
    [name] = streams.create()
    streams.publish(name, {"id": 1}, {"id": 2})
    home = Home(tmp_path)
    config = PlatformConfig(sources=[source(streams=[name])])
    key = f"bus/{dataset(name)}"

    discover(home, config)
    streams.publish(name, {"id": 3})
    discover(home, config)

    record = CatalogStore(home.catalog_path).get(key)
    assert (record.record_count, record.stream_position.last, record.stream_position.items) == (3, "3", 3)

    streams.publish(name, b"\xff\xfe")
    [error] = discover(home, config).errors
    assert f"stream '{name}' message 4: payload is not JSON" in error.message

    assert CatalogStore(home.catalog_path).get(key) == record
