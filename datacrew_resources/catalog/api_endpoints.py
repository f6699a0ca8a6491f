"""HTTP JSON API connector: one dataset per collection endpoint of an API.

The endpoints come from an OpenAPI 3 document (JSON) or from a list:
- the uri is the document (`http://host:8000/openapi.json`), or `options.openapi`
  names it (a URL, or a path relative to the uri); which operations count and
  where they are called is `catalog.openapi`;
- `options.endpoints`: paths under the uri (`/flights`, `airports?country=US`).

Each endpoint is read whole with GET, page after page, at most
`options.max_pages` (default 100) pages:
- the next page is the response's `Link: <...>; rel="next"` header, else a
  `next` link in the body (`next`, `links.next`, `_links.next.href`,
  `paging.next`), else the declared page/offset parameter advanced (a page
  number by 1, an offset by the records read) until a page comes back empty;
- a page identical to the one before ends the walk uncounted: the server
  ignored the parameter and would serve it again and again;
- a link already followed ends the walk.

Records are the body when it is a JSON array, else the list under
`options.records_key`, else under the first of `RECORDS_KEYS` holding a list,
else under the body's only list-valued key. Each record must be a JSON object.

What a record holds:
- schema, nullability and quality score (completeness): inferred from every
  record read, as for message streams (`catalog.messages`); an endpoint that
  returned no record has no columns;
- record count, size and file count: records, body bytes and pages over all
  pages read; when `max_pages` stopped the walk with pages left, the
  description says so;
- last_updated: the newest `Last-Modified` header of its pages; without one,
  the time this scan started (an API tells no other modification time).

Only the standard library talks HTTP (urllib): no client is a dependency.
Credentials in the uri are refused rather than silently not sent.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit
from urllib.request import Request, urlopen

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .messages import Signature, columns, parse_json, signature, window_completeness
from .models import DatasetRecord
from .names import check_unique_names, dataset_name
from .openapi import NotOpenApiError, Pager, operations
from .stream_source import read_options, source_error

FORMAT = "api_json"
TIMEOUT_SECONDS = 10.0
RECORDS_KEYS = ("data", "items", "results", "records", "rows", "entries", "values")
NEXT_LINKS = (("next",), ("links", "next"), ("_links", "next", "href"), ("paging", "next"))
_LINK = re.compile(r"<([^>]*)>([^,]*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;]+))""")


class ApiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    openapi: str | None = Field(default=None, min_length=1, description="OpenAPI document URL or path under the uri")
    endpoints: list[str] | None = Field(default=None, min_length=1, description="paths under the uri")
    records_key: str | None = Field(default=None, min_length=1, description="body key holding the records")
    max_pages: int = Field(default=100, ge=1, description="pages read per endpoint at most")

    @field_validator("endpoints")
    @classmethod
    def _paths_only(cls, paths: list[str] | None) -> list[str] | None:
        for path in paths or []:
            if "://" in path or not path.strip("/"):
                raise ValueError(f"{path!r} is not a path under the uri (such as /flights)")
        return paths

    @model_validator(mode="after")
    def _one_origin(self) -> ApiOptions:
        if self.openapi is not None and self.endpoints is not None:
            raise ValueError("give openapi or endpoints, not both")
        return self


@dataclass(frozen=True)
class Endpoint:
    path: str
    url: str
    name: str
    summary: str
    pager: Pager | None


@dataclass(frozen=True)
class Page:
    url: str
    raw: bytes
    body: Any
    headers: Message


@dataclass
class _Walk:
    """What the pages of one endpoint read so far add up to."""

    signatures: list[Signature] = field(default_factory=list)
    size: int = 0
    pages: int = 0
    modified: list[datetime] = field(default_factory=list)
    more: bool = False  # max_pages stopped the walk with pages left

    def add(self, page: Page, records: list[dict[str, Any]]) -> None:
        self.signatures.extend(signature(record) for record in records)
        self.size += len(page.raw)
        self.pages += 1
        self.modified.extend(_last_modified(page.headers))


def scan_api_endpoints(source: SourceConfig, uri: str) -> list[DatasetRecord]:
    """Every collection endpoint of the API at `uri`, sorted by path."""
    return _Api(source, uri, read_options(source, ApiOptions)).records()


class _Api:
    def __init__(self, source: SourceConfig, uri: str, options: ApiOptions):
        self.source, self.uri, self.options = source, uri, options
        self.scanned_at = datetime.now(UTC)
        parts = urlsplit(uri)
        if parts.username is not None or parts.password is not None:
            raise self._error("credentials in the uri are not supported (they would not be sent)")

    def records(self) -> list[DatasetRecord]:
        endpoints = self._endpoints()
        check_unique_names(self.source.name, [(e.name, e.path) for e in endpoints], file=self.uri)
        return [self._read(endpoint) for endpoint in endpoints]

    def _error(self, problem: str) -> Exception:
        return source_error(self.source, self.uri, problem)

    def _endpoints(self) -> list[Endpoint]:
        if self.options.endpoints is not None:
            base = self.uri.rstrip("/") + "/"
            return [
                Endpoint(path, base + path.lstrip("/"), self._name(urlsplit(path).path), "", None)
                for path in sorted(self.options.endpoints, key=lambda p: p.lstrip("/"))
            ]
        document_url = self.uri
        if self.options.openapi is not None:
            document_url = urljoin(self.uri if self.uri.endswith("/") else self.uri + "/", self.options.openapi)
        page = self._get(document_url)
        try:
            found = operations(page.body, page.url)
        except NotOpenApiError as e:
            raise self._error(f"GET {document_url}: {e}") from None
        return [
            Endpoint(o.path, o.url, self._name(o.path.strip("/") or o.operation_id), o.summary, o.pager)
            for o in found
        ]

    def _name(self, raw: str) -> str:
        return dataset_name(raw.strip("/"), source=self.source.name, file=self.uri)

    def _read(self, endpoint: Endpoint) -> DatasetRecord:
        walk = self._walk(endpoint)
        description = endpoint.summary or f"GET {endpoint.path}"
        if walk.more:
            description += f" (first {walk.pages} pages read; more remain)"
        return DatasetRecord(
            source=self.source.name,
            source_type=SourceType.api_endpoints,
            dataset_name=endpoint.name,
            description=description,
            format=FORMAT,
            location=endpoint.url,
            columns=columns(walk.signatures),
            record_count=len(walk.signatures),
            size_bytes=walk.size,
            file_count=walk.pages,
            last_updated=max(walk.modified, default=self.scanned_at),
            owner=self.source.owner,
            quality_score=window_completeness(walk.signatures),
        )

    def _walk(self, endpoint: Endpoint) -> _Walk:
        """Every page of `endpoint`, reduced to record signatures as it is read."""
        walk, pager = _Walk(), endpoint.pager
        value = pager.start if pager else 0
        url = _with_query(endpoint.url, pager.parameter, value) if pager else endpoint.url
        followed, before = {url}, b""
        while True:
            page = self._get(url)
            if walk.pages and page.raw == before:
                return walk
            records = self._records(page)
            walk.add(page, records)
            following = _next_link(page)
            if following is None and pager and records:
                value = pager.after(value, len(records))
                following = _with_query(endpoint.url, pager.parameter, value)
            if following is None or following in followed:
                return walk
            if walk.pages == self.options.max_pages:
                walk.more = True
                return walk
            followed.add(following)
            url, before = following, page.raw

    def _get(self, url: str) -> Page:
        request = Request(url, headers={"Accept": "application/json", "User-Agent": "datacrew-discovery"})
        try:
            with urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                raw, headers, final = response.read(), response.headers, response.geturl()
        except HTTPError as e:
            raise self._error(f"GET {url}: HTTP {e.code} {e.reason}") from None
        except URLError as e:
            raise self._error(f"GET {url}: cannot connect ({first_line(e.reason)})") from None
        except (HTTPException, OSError) as e:  # a dropped connection, a timeout
            raise self._error(f"GET {url}: {type(e).__name__} ({first_line(e)})") from None
        try:
            body = parse_json(raw)
        except ValueError as e:  # also bytes that are not text
            kind = headers.get_content_type()
            raise self._error(f"GET {url}: the response is not JSON (Content-Type {kind}; {first_line(e)})") from None
        return Page(final, raw, body, headers)

    def _records(self, page: Page) -> list[dict[str, Any]]:
        body = page.body
        if isinstance(body, dict):
            key = self._records_key(page.url, body)
            body = body[key]
        if not isinstance(body, list):
            raise self._error(f"GET {page.url}: the response is JSON {type(body).__name__}, not a list of records")
        for index, record in enumerate(body):
            if not isinstance(record, dict):
                problem = f"record {index} is JSON {type(record).__name__}, not an object"
                raise self._error(f"GET {page.url}: {problem}")
        return body

    def _records_key(self, url: str, body: dict[str, Any]) -> str:
        if self.options.records_key is not None:
            if not isinstance(body.get(self.options.records_key), list):
                raise self._error(f"GET {url}: no list under {self.options.records_key!r} (options.records_key)")
            return self.options.records_key
        lists = [key for key, value in body.items() if isinstance(value, list)]
        key = next((k for k in RECORDS_KEYS if k in lists), lists[0] if len(lists) == 1 else None)
        if key is None:
            shown = ", ".join(body) or "none"
            raise self._error(
                f"GET {url}: the response is a JSON object without one list of records (keys: {shown});"
                " set options.records_key"
            )
        return key


def _with_query(url: str, name: str, value: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return parts._replace(query=urlencode([*query, (name, str(value))])).geturl()


def _next_link(page: Page) -> str | None:
    """The `rel="next"` Link header's target, else the body's next link; absolute."""
    for header in page.headers.get_all("Link") or []:
        for target, parameters in _LINK.findall(header):
            for quoted, bare in _REL.findall(parameters):
                if "next" in (quoted or bare).lower().split():
                    return urljoin(page.url, target.strip())
    if isinstance(page.body, dict):
        for path in NEXT_LINKS:
            node: Any = page.body
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, str) and node:
                return urljoin(page.url, node)
    return None


def _last_modified(headers: Message) -> list[datetime]:
    """The page's Last-Modified time; none when absent or unparsable."""
    value = headers.get("Last-Modified")
    try:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return []
    return [parsed.astimezone(UTC)] if parsed and parsed.tzinfo else []
