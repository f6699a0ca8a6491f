"""The Redis Streams connector against the server on 127.0.0.1:6379 (database 0, no password).

Every test writes keys under a unique prefix and deletes them afterwards. The
server must be running: these tests fail, never skip, without it. Entry ids
are given explicitly where a test asserts on times (`<unix ms>-<n>`).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.models import ColumnInfo
from datacrew_resources.catalog.redis_streams import read_redis_streams, scan_redis_streams
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

REDIS_URL = "redis://127.0.0.1:6379/0"
MS = 1_795_000_000_000  # 2026-11-18T08:26:40Z, in milliseconds


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(REDIS_URL) as connection:
        yield connection


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted after the test."""
    unique = f"t{uuid.uuid4().hex}:"
    yield unique
    keys = list(client.scan_iter(match=f"{unique}*"))
    if keys:
        client.delete(*keys)


def source(uri: str = REDIS_URL, **options) -> SourceConfig:
    return SourceConfig(name="cache", type=SourceType.streaming, uri=uri, owner="team:events", options=options)


def dataset(key: str) -> str:
    return key.replace(":", "_")


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_a_stream_is_a_dataset_with_decoded_fields_count_and_last_event(client, prefix):
    key = f"{prefix}orders"
    client.xadd(key, {"id": "1", "amount": "12.5", "placed_at": "2026-11-24T10:00:00", "meta": '{"a": 1}'}, id=f"{MS}-0")
    client.xadd(key, {"id": "2", "amount": "3", "placed_at": "2026-11-24T10:05:00", "status": "new"}, id=f"{MS + 1500}-0")

    [scan] = read_redis_streams(source(pattern=f"{prefix}*"), REDIS_URL, {})

    record = scan.record
    assert scan.messages_read == 2
    assert (record.source, record.source_type, record.dataset_name) == ("cache", SourceType.streaming, dataset(key))
    assert (record.format, record.location) == ("redis_stream", f"redis://127.0.0.1:6379/0/{prefix[:-1]}%3Aorders")
    assert record.columns == [
        ColumnInfo(name="id", type="BIGINT", nullable=False),
        ColumnInfo(name="amount", type="DOUBLE", nullable=False),
        ColumnInfo(name="placed_at", type="TIMESTAMP", nullable=False),
        ColumnInfo(name="meta", type="JSON", nullable=True),
        ColumnInfo(name="status", type="VARCHAR", nullable=True),
    ]
    assert record.record_count == 2
    assert record.size_bytes == client.memory_usage(key)
    assert record.last_updated == at(MS + 1500)
    assert record.quality_score == 0.8  # 8 of 10 cells: meta and status are each missing once
    assert (record.owner, record.description) == ("team:events", f"Redis stream {key}")
    position = record.stream_position
    assert (position.last, position.items, position.last_event_time) == (f"{MS + 1500}-0", 2, at(MS + 1500))


def test_only_stream_keys_matching_the_pattern_are_datasets(client, prefix):
    client.xadd(f"{prefix}a", {"x": "1"})
    client.xadd(f"{prefix}b", {"x": "1"})
    client.set(f"{prefix}plain", "not a stream")
    client.xadd(f"{prefix}other:c", {"x": "1"})

    records = scan_redis_streams(source(pattern=f"{prefix}?"), REDIS_URL, {})

    assert [r.dataset_name for r in records] == [dataset(f"{prefix}a"), dataset(f"{prefix}b")]


def test_the_schema_comes_from_the_most_recent_entries_only(client, prefix):
    key = f"{prefix}s"
    for _ in range(2):
        client.xadd(key, {"legacy": "x"})
    for n in range(3):
        client.xadd(key, {"id": str(n)})

    [scan] = read_redis_streams(source(pattern=key, sample=3), REDIS_URL, {})

    assert scan.messages_read == 3
    assert scan.record.columns == [ColumnInfo(name="id", type="BIGINT", nullable=False)]
    assert scan.record.record_count == 5


def test_a_rescan_reads_only_the_entries_added_since(client, prefix):
    key = f"{prefix}clicks"
    for n in range(1, 4):
        client.xadd(key, {"id": str(n)}, id=f"{MS + n}-0")
    [first] = read_redis_streams(source(pattern=key), REDIS_URL, {})
    client.xadd(key, {"id": "4", "channel": "web"}, id=f"{MS + 4}-0")
    client.xadd(key, {"id": "4.5", "channel": "app"}, id=f"{MS + 4}-1")

    [second] = read_redis_streams(source(pattern=key), REDIS_URL, {dataset(key): first.record})

    assert (first.messages_read, second.messages_read) == (3, 2)
    assert second.record.columns == [
        ColumnInfo(name="id", type="DOUBLE", nullable=False),
        ColumnInfo(name="channel", type="VARCHAR", nullable=True),
    ]
    assert (second.record.record_count, second.record.stream_position.last) == (5, f"{MS + 4}-1")
    assert second.record.last_updated == at(MS + 4)

    [third] = read_redis_streams(source(pattern=key), REDIS_URL, {dataset(key): second.record})

    assert third.messages_read == 0
    assert third.record.model_dump(exclude={"size_bytes"}) == second.record.model_dump(exclude={"size_bytes"})


def test_a_recreated_stream_with_earlier_ids_is_read_from_the_start(client, prefix):
    key = f"{prefix}r"
    client.xadd(key, {"id": "1"}, id=f"{MS + 10}-0")
    [first] = read_redis_streams(source(pattern=key), REDIS_URL, {})
    client.delete(key)
    client.xadd(key, {"code": "a"}, id=f"{MS}-0")
    client.xadd(key, {"code": "b"}, id=f"{MS}-1")

    [second] = read_redis_streams(source(pattern=key), REDIS_URL, {dataset(key): first.record})

    assert second.messages_read == 2
    assert second.record.columns == [ColumnInfo(name="code", type="VARCHAR", nullable=False)]
    assert second.record.last_updated == at(MS)


def test_an_empty_stream_has_no_columns_and_the_epoch_as_last_event(client, prefix):
    key = f"{prefix}empty"
    client.xgroup_create(key, "readers", id="0", mkstream=True)

    [record] = scan_redis_streams(source(pattern=key), REDIS_URL, {})

    assert (record.record_count, record.columns, record.quality_score) == (0, [], None)
    assert record.last_updated == at(0)
    assert record.stream_position.last_event_time is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_line_naming_source_and_uri():
    uri = f"redis://127.0.0.1:{_free_port()}/0"

    with pytest.raises(DiscoveryError) as info:
        scan_redis_streams(source(uri), uri, {})

    message = str(info.value)
    assert message.startswith(f"{uri}: source 'cache': cannot connect to Redis (")
    assert "Connection refused" in message and "\n" not in message


def test_bad_credentials_are_reported_with_the_password_masked():
    uri = "redis://bob:wrong@127.0.0.1:6379/0"

    with pytest.raises(DiscoveryError) as info:
        scan_redis_streams(source(uri), uri, {})

    assert str(info.value) == (
        "redis://bob:***@127.0.0.1:6379/0: source 'cache': cannot connect to Redis"
        " (invalid username-password pair or user is disabled.)"
    )


def test_a_field_that_is_not_text_names_stream_and_entry(client, prefix):
    key = f"{prefix}bin"
    client.xadd(key, {"id": "1", "blob": b"\xff\xfe"}, id=f"{MS}-0")

    with pytest.raises(DiscoveryError) as info:
        scan_redis_streams(source(pattern=key), REDIS_URL, {})

    assert str(info.value) == (
        f"{REDIS_URL}: source 'cache': stream '{key}' entry {MS}-0: field b'blob' is not UTF-8 text"
    )


def test_bad_options_and_uris_are_config_errors():
    with pytest.raises(ConfigError) as info:
        scan_redis_streams(source(pattern=""), REDIS_URL, {})
    assert str(info.value) == (
        "datacrew.yaml: sources.cache.options.pattern: '': String should have at least 1 character"
    )

    with pytest.raises(ConfigError, match=r"sources\.cache\.options\.streams: .*Extra inputs are not permitted"):
        scan_redis_streams(source(streams=["x"]), REDIS_URL, {})

    uri = "redis://127.0.0.1:6379/zero"
    with pytest.raises(DiscoveryError) as info:
        scan_redis_streams(source(uri), uri, {})
    assert str(info.value) == (
        "redis://127.0.0.1:6379/zero: source 'cache': the uri's path must be a database number (redis://host:6379/0)"
    )

    uri = "redis://127.0.0.1:port/0"
    with pytest.raises(DiscoveryError, match=r"^redis://127.0.0.1:port/0: source 'cache': not a usable redis uri \("):
        scan_redis_streams(source(uri), uri, {})


def test_discover_resumes_from_the_catalog_and_keeps_it_when_a_stream_goes_bad(tmp_path, client, prefix):
    key = f"{prefix}events"
    client.xadd(key, {"id": "1"}, id=f"{MS}-0")
    client.xadd(key, {"id": "2"}, id=f"{MS}-1")
    home = Home(tmp_path)
    config = PlatformConfig(sources=[source(pattern=f"{prefix}*")])

    discover(home, config)
    client.xadd(key, {"id": "3"}, id=f"{MS + 1}-0")
    discover(home, config)

    record = CatalogStore(home.catalog_path).get(f"cache/{dataset(key)}")
    assert (record.record_count, record.stream_position.last, record.stream_position.items) == (3, f"{MS + 1}-0", 3)

    client.xadd(key, {"id": b"\x80"}, id=f"{MS + 2}-0")
    [error] = discover(home, config).errors
    assert f"entry {MS + 2}-0: field b'id' is not UTF-8 text" in error.message

    assert CatalogStore(home.catalog_path).get(f"cache/{dataset(key)}") == record
