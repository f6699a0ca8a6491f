"""The collection endpoints an OpenAPI 3 document declares, for the API connector.

Every GET operation is one, except those the connector could not call or that
return no collection:
- a path parameter (`/flights/{id}`) or any other required parameter;
- a declared 2xx JSON response schema that is a scalar, or an object none of
  whose properties is an array (`/health` returning `{status}`).
An undeclared or composed (`allOf`, `oneOf`) response schema is read.

Operations are called on the first server (`servers[0].url`, variables at their
defaults, relative to the document's URL) or, with none declared, on the
document's origin, as the specification says. A declared query parameter
named like a page number (`page`) or an offset (`offset`, `skip`) lets the
connector walk pages; it starts at the parameter's default, else its minimum,
else 1 (pages) or 0 (offsets). Only local references (`#/components/...`) are
followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

PAGE_PARAMETERS = ("page", "page_number", "pageNumber")
OFFSET_PARAMETERS = ("offset", "skip")
_SCALAR_TYPES = {"string", "number", "integer", "boolean", "null"}
_MAX_REFERENCE_HOPS = 32


class NotOpenApiError(ValueError):
    """A document that is not an OpenAPI 3 document."""


@dataclass(frozen=True)
class Pager:
    """A declared page or offset query parameter, and where it starts."""

    parameter: str
    start: int
    counts_records: bool  # an offset advances by the records read, a page number by 1

    def after(self, value: int, records: int) -> int:
        return value + (records if self.counts_records else 1)


@dataclass(frozen=True)
class Operation:
    path: str
    url: str
    operation_id: str
    summary: str
    pager: Pager | None


def operations(document: Any, document_url: str) -> list[Operation]:
    """The collection GET operations of `document`, sorted by path."""
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise NotOpenApiError("not an OpenAPI 3 document (no `openapi: 3.x` field)")
    base = urljoin(document_url, _server_url(document))
    paths = document.get("paths") or {}
    if not isinstance(paths, dict):
        raise NotOpenApiError("its `paths` is not an object")
    found = []
    for path, item in sorted(paths.items()):
        item = _resolve(document, item)
        if not isinstance(item, dict) or "get" not in item or "{" in path:
            continue
        operation = _resolve(document, item["get"])
        if not isinstance(operation, dict):
            raise NotOpenApiError(f"its `paths.{path}.get` is not an object")
        parameters = _parameters(document, item, operation)
        if any(p.get("required") for p in parameters) or not _returns_collection(document, operation):
            continue
        found.append(
            Operation(
                path=path,
                url=base.rstrip("/") + "/" + path.lstrip("/"),
                operation_id=str(operation.get("operationId", "")),
                summary=_first_line(operation.get("summary") or operation.get("description") or ""),
                pager=_pager(parameters),
            )
        )
    return found


def _server_url(document: Mapping[str, Any]) -> str:
    servers = document.get("servers")
    server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {}
    variables = server.get("variables") or {}
    return re.sub(
        r"\{([^}]*)\}", lambda m: str((variables.get(m[1]) or {}).get("default", "")), str(server.get("url", "/"))
    )


def _resolve(document: Any, node: Any) -> Any:
    """`node` with local `$ref`s followed; {} for anything that cannot be followed."""
    for _ in range(_MAX_REFERENCE_HOPS):
        if not isinstance(node, dict) or "$ref" not in node:
            return node if node is not None else {}
        reference = str(node["$ref"])
        if not reference.startswith("#/"):
            return {}
        node = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
    return {}


def _parameters(document: Any, item: Mapping[str, Any], operation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The path item's parameters overridden by the operation's, by (name, location)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for parameter in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        parameter = _resolve(document, parameter)
        if isinstance(parameter, dict):
            merged[(str(parameter.get("name")), str(parameter.get("in")))] = parameter
    return list(merged.values())


def _returns_collection(document: Any, operation: Mapping[str, Any]) -> bool:
    responses = operation.get("responses") or {}
    success = next((code for code in sorted(map(str, responses)) if code.startswith("2")), None)
    if success is None:
        return True
    content = _resolve(document, responses[success]).get("content") or {}
    media = next((m for m in content if "json" in m), None)
    schema = _resolve(document, (content.get(media) or {}).get("schema")) if media else {}
    kind = schema.get("type")
    if kind == "array" or not schema or "type" not in schema:
        return True
    if kind in _SCALAR_TYPES:
        return False
    properties = schema.get("properties") or {}
    return any(_resolve(document, p).get("type") == "array" for p in properties.values())


def _pager(parameters: list[dict[str, Any]]) -> Pager | None:
    query = {p.get("name"): p for p in parameters if p.get("in") == "query"}
    for names, counts_records, first in ((PAGE_PARAMETERS, False, 1), (OFFSET_PARAMETERS, True, 0)):
        for name in names:
            if name in query:
                schema = query[name].get("schema") or {}
                start = schema.get("default", schema.get("minimum", first))
                return Pager(name, start if isinstance(start, int) else first, counts_records)
    return None


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""
