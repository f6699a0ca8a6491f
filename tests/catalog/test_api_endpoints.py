"""The HTTP JSON API connector against a local API the test serves on 127.0.0.1.

The API (`API`) declares its operations in /openapi.json (served under /api) and
pages its collections every way the connector follows: a page parameter, an
offset parameter, a Link header, a `next` link in the body, and a page parameter
the server ignores. /bad/... serves what the connector must refuse.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest

from datacrew_assets.discovered import discovered_asset_specs
from datacrew_resources.catalog.api_endpoints import scan_api_endpoints
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.models import ColumnInfo
from datacrew_resources.catalog.openapi import Operation, Pager, operations
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

FLIGHTS = [
    {"id": 1, "carrier": "UA", "dep_time": "2013-01-01T05:17:00", "delay": 2.5, "tags": ["red-eye"]},
    {"id": 2, "carrier": "AA", "dep_time": "2013-01-01T05:33:00", "delay": None},
    {"id": 3, "carrier": "B6", "dep_time": "2013-01-01T05:42:00", "delay": 1},
    {"id": 4, "carrier": "DL", "dep_time": "2013-01-01T05:44:00", "delay": -3.0},
    {"id": 5, "carrier": "UA", "dep_time": "2013-01-01T05:54:00", "delay": 0},
]
AIRPORTS = [
    {"faa": "EWR", "name": "Newark", "alt": 18},
    {"faa": "JFK", "name": "Kennedy", "alt": 13},
    {"faa": "LGA", "name": "LaGuardia", "alt": 22, "tz": -5},
]
PLANES = [
    {"tailnum": "N10156", "year": 2004, "built": "2004-05-01"},
    {"tailnum": "N102UW", "year": 1998, "built": "1998-03-01"},
    {"tailnum": "N103US", "year": None, "built": "1999-01-01"},
]
DELAYS = [{"carrier": "UA", "minutes": 12}, {"carrier": "AA", "minutes": 3}, {"carrier": "B6", "minutes": 40}]
PAGE = {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "flights", "version": "1"},
    "servers": [{"url": "/api"}],
    "paths": {
        "/flights": {
            "get": {"operationId": "listFlights", "summary": "Flights that left NYC\nin 2013", "parameters": [PAGE]},
            "post": {"operationId": "addFlight"},
        },
        "/flights/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True}]}},
        "/airports": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Airport"}}}}}}}},
        "/planes": {"get": {}},
        "/delays": {"parameters": [{"$ref": "#/components/parameters/offset"}], "get": {}},
        "/weather": {"get": {"parameters": [PAGE]}},
        "/health": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Health"}}}}}}},
        "/search": {"get": {"parameters": [{"name": "q", "in": "query", "required": True}]}},
        "/upload": {"post": {}},
    },
    "components": {
        "schemas": {
            "Airport": {"type": "object"},
            "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        },
        "parameters": {"offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}}},
    },
}

Response = tuple[int, dict[str, str], bytes]


def as_json(body: object, **headers: str) -> Response:
    return 200, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def flights(query: dict[str, str]) -> Response:
    page = int(query.get("page", "1"))
    return as_json({"data": FLIGHTS[(page - 1) * 2 : page * 2], "page": page})


def airports(query: dict[str, str]) -> Response:
    if query.get("cursor") == "2":
        return as_json(AIRPORTS[2:], **{"Last-Modified": "Thu, 19 Nov 2026 08:00:00 GMT"})
    return as_json(
        AIRPORTS[:2],
        **{"Link": '</api/airports?cursor=2>; rel="next", </api/airports>; rel=first',
           "Last-Modified": "Wed, 18 Nov 2026 08:00:00 GMT"},
    )


def planes(query: dict[str, str]) -> Response:
    if query.get("after") == "2":
        return as_json({"results": PLANES[2:], "next": None})
    return as_json({"results": PLANES[:2], "next": "/api/planes?after=2"})


def delays(query: dict[str, str]) -> Response:
    offset = int(query.get("offset", "0"))
    return as_json({"items": DELAYS[offset : offset + 2], "total": len(DELAYS)})


ROUTES: dict[str, Callable[[dict[str, str]], Response]] = {
    "/openapi.json": lambda q: as_json(OPENAPI),
    "/api/flights": flights,
    "/api/airports": airports,
    "/api/planes": planes,
    "/api/delays": delays,
    "/api/weather": lambda q: as_json([{"t": 1}, {"t": 2}]),  # ignores ?page=
    "/api/health": lambda q: as_json({"status": "ok"}),
    "/bad/500": lambda q: (500, {}, b"boom"),
    "/bad/html": lambda q: (200, {"Content-Type": "text/html"}, b"<html><body>Sign in</body></html>"),
    "/bad/object": lambda q: as_json({"status": "ok", "tags": [], "ids": []}),
    "/bad/scalars": lambda q: as_json([1, 2]),
    "/bad/number": lambda q: as_json(42),
    "/bad/openapi": lambda q: as_json({"swagger": "2.0"}),
    "/bad/loop": lambda q: as_json({"data": [{"a": 1}], "asked": q, "next": "/bad/loop?again=1"}),
}


class Api:
    """The API on an ephemeral port; `requests` logs every path and query served."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                parts = urlsplit(self.path)
                route = ROUTES.get(parts.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, headers, body = route(query) if route else (404, {}, b"not found")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep pytest output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def api() -> Iterator[Api]:
    served = Api()
    yield served
    served.close()


def source(uri: str, **options) -> SourceConfig:
    return SourceConfig(name="flights_api", type=SourceType.api_endpoints, uri=uri, owner="team:ops", options=options)


def scan(uri: str, **options):
    return {r.dataset_name: r for r in scan_api_endpoints(source(uri, **options), uri)}


def test_the_openapi_document_names_the_collections_and_their_pages(api):
    before = datetime.now(UTC)
    records = scan(f"{api.url}/openapi.json")
    after = datetime.now(UTC)

    assert list(records) == ["airports", "delays", "flights", "planes", "weather"]
    flights = records["flights"]
    assert (flights.source, flights.source_type) == ("flights_api", SourceType.api_endpoints)
    assert flights.format == "api_json"
    assert (flights.location, flights.description, flights.owner) == (
        f"{api.url}/api/flights", "Flights that left NYC", "team:ops",
    )
    assert flights.columns == [
        ColumnInfo(name="id", type="BIGINT", nullable=False),
        ColumnInfo(name="carrier", type="VARCHAR", nullable=False),
        ColumnInfo(name="dep_time", type="TIMESTAMP", nullable=False),
        ColumnInfo(name="delay", type="DOUBLE", nullable=True),
        ColumnInfo(name="tags", type="JSON", nullable=True),
    ]
    assert (flights.record_count, flights.file_count, flights.quality_score) == (5, 4, 0.8)  # 20 of 25 cells
    assert flights.size_bytes == sum(len(flights_page(p)) for p in (1, 2, 3, 4))
    assert before <= flights.last_updated <= after  # no Last-Modified: the scan's time
    assert [r for r in api.requests if r.startswith("/api/flights")] == [
        "/api/flights?page=1", "/api/flights?page=2", "/api/flights?page=3", "/api/flights?page=4",
    ]


def test_endpoints_are_api_assets_with_their_schema(api):
    (spec,) = discovered_asset_specs([scan(f"{api.url}/api", endpoints=["/airports"])["airports"]])

    assert (spec.key, spec.kinds) == (dg.AssetKey(["flights_api", "airports"]), {"api", "json"})
    assert spec.metadata["dagster/row_count"] == 3
    assert [c.name for c in spec.metadata["dagster/column_schema"].columns] == ["faa", "name", "alt", "tz"]


def flights_page(page: int) -> bytes:
    return flights({"page": str(page)})[2]


def test_link_headers_body_links_and_offsets_are_followed(api):
    records = scan(f"{api.url}/openapi.json")

    airports = records["airports"]
    assert (airports.record_count, airports.file_count, airports.description) == (3, 2, "GET /airports")
    assert airports.columns == [
        ColumnInfo(name="faa", type="VARCHAR", nullable=False),
        ColumnInfo(name="name", type="VARCHAR", nullable=False),
        ColumnInfo(name="alt", type="BIGINT", nullable=False),
        ColumnInfo(name="tz", type="BIGINT", nullable=True),
    ]
    assert airports.last_updated == datetime(2026, 11, 19, 8, tzinfo=UTC)  # the newest Last-Modified

    planes = records["planes"]
    assert (planes.record_count, planes.quality_score) == (3, 0.8889)  # one null year in 9 cells
    assert planes.columns == [
        ColumnInfo(name="tailnum", type="VARCHAR", nullable=False),
        ColumnInfo(name="year", type="BIGINT", nullable=True),
        ColumnInfo(name="built", type="DATE", nullable=False),
    ]

    assert (records["delays"].record_count, records["delays"].file_count) == (3, 3)
    assert [r for r in api.requests if r.startswith("/api/delays")] == [
        "/api/delays?offset=0", "/api/delays?offset=2", "/api/delays?offset=3",
    ]


def test_a_page_parameter_the_server_ignores_counts_its_page_once(api):
    weather = scan(f"{api.url}/openapi.json")["weather"]

    assert (weather.record_count, weather.file_count) == (2, 1)
    assert [r for r in api.requests if r.startswith("/api/weather")] == ["/api/weather?page=1", "/api/weather?page=2"]


def test_max_pages_caps_the_walk_and_says_so(api):
    flights = scan(f"{api.url}/openapi.json", max_pages=2)["flights"]

    assert (flights.record_count, flights.file_count) == (4, 2)
    assert flights.description == "Flights that left NYC (first 2 pages read; more remain)"


def test_the_document_can_be_named_in_options(api):
    records = scan(f"{api.url}/api", openapi="/openapi.json")
    assert list(records) == ["airports", "delays", "flights", "planes", "weather"]


def test_an_endpoint_list_reads_paths_under_the_uri(api):
    records = scan(f"{api.url}/api", endpoints=["/planes", "delays?offset=1", "airports"])

    assert list(records) == ["airports", "delays", "planes"]
    assert records["delays"].location == f"{api.url}/api/delays?offset=1"
    assert records["delays"].record_count == 2  # no declared offset: one page
    assert records["planes"].record_count == 3  # body links need no declaration


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/bad/500", "HTTP 500 Internal Server Error"),
        ("/bad/html", "the response is not JSON (Content-Type text/html; Expecting value: line 1 column 1 (char 0))"),
        ("/bad/object", "the response is a JSON object without one list of records (keys: status, tags, ids);"
                        " set options.records_key"),
        ("/bad/scalars", "record 0 is JSON int, not an object"),
        ("/bad/number", "the response is JSON int, not a list of records"),
        ("/nowhere", "HTTP 404 Not Found"),
    ],
)
def test_a_bad_endpoint_names_source_uri_and_endpoint(api, path, problem):
    with pytest.raises(DiscoveryError) as info:
        scan(api.url, endpoints=[path])

    assert str(info.value) == f"{api.url}: source 'flights_api': GET {api.url}{path}: {problem}"


def test_a_missing_records_key_and_a_document_that_is_not_openapi(api):
    with pytest.raises(DiscoveryError) as info:
        scan(api.url, endpoints=["/api/planes"], records_key="data")
    assert str(info.value).endswith(f"GET {api.url}/api/planes: no list under 'data' (options.records_key)")

    with pytest.raises(DiscoveryError) as info:
        scan(f"{api.url}/bad/openapi")
    assert str(info.value) == (
        f"{api.url}/bad/openapi: source 'flights_api': GET {api.url}/bad/openapi:"
        " not an OpenAPI 3 document (no `openapi: 3.x` field)"
    )


def test_a_next_link_already_followed_ends_the_walk(api):
    [record] = scan(api.url, endpoints=["/bad/loop"]).values()

    assert (record.record_count, record.file_count) == (2, 2)


def test_an_unreachable_server_is_one_line():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{probe.getsockname()[1]}/openapi.json"

    with pytest.raises(DiscoveryError) as info:
        scan(uri)

    assert str(info.value) == f"{uri}: source 'flights_api': GET {uri}: cannot connect ([Errno 111] Connection refused)"


def test_bad_options_are_config_errors(api):
    with pytest.raises(ConfigError) as info:
        scan(api.url, endpoints=["/a"], openapi="/openapi.json")
    assert str(info.value) == "datacrew.yaml: sources.flights_api.options: give openapi or endpoints, not both"

    with pytest.raises(ConfigError) as info:
        scan(api.url, max_pages=0)
    assert str(info.value) == (
        "datacrew.yaml: sources.flights_api.options.max_pages: 0: Input should be greater than or equal to 1"
    )

    with pytest.raises(ConfigError) as info:
        scan(api.url, endpoints=["http://elsewhere/x"])
    assert str(info.value) == (
        "datacrew.yaml: sources.flights_api.options.endpoints: 'http://elsewhere/x' is not a path under the uri"
        " (such as /flights)"
    )

    uri = api.url.replace("http://", "http://bob:s3cret@") + "/openapi.json"
    with pytest.raises(DiscoveryError) as info:
        scan(uri)
    assert str(info.value) == (
        f"{uri.replace('s3cret', '***')}: source 'flights_api':"
        " credentials in the uri are not supported (they would not be sent)"
    )


def test_discover_writes_the_catalog_and_keeps_it_when_the_api_fails(tmp_path, api):
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[source(f"{api.url}/openapi.json")]))
    store = CatalogStore(home.catalog_path)
    kept = store.all()
    assert [r.key_string for r in kept] == [
        "flights_api/airports", "flights_api/delays", "flights_api/flights", "flights_api/planes",
        "flights_api/weather",
    ]

    [error] = discover(home, PlatformConfig(sources=[source(api.url, endpoints=["/api/flights", "/bad/500"])])).errors
    assert "HTTP 500 Internal Server Error" in error.message
    assert store.all() == kept


def test_server_variables_offsets_and_composed_responses_in_the_document():
    document = {
        "openapi": "3.1.0",
        "servers": [{"url": "{scheme}://api.example.org/{version}",
                     "variables": {"scheme": {"default": "https"}, "version": {"default": "v2"}}}],
        "paths": {
            "/": {"get": {"operationId": "listAll"}},
            "/items": {"get": {"parameters": [{"name": "skip", "in": "query"}], "responses": {"2XX": {"content": {
                "application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Page"}]}}}}}}},
            "/count": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "integer"}}}}}}},
        },
    }

    assert operations(document, "http://host/openapi.json") == [
        Operation("/", "https://api.example.org/v2/", "listAll", "", None),
        Operation("/items", "https://api.example.org/v2/items", "", "", Pager("skip", 0, counts_records=True)),
    ]
