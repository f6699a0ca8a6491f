"""Where event lines go: appended to a JSONL file, or posted to an HTTP endpoint."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from datacrew_resources.config.errors import first_line
from datacrew_resources.http_post import PostFailed, post_json


class DeliveryError(OSError):
    """An event could not be delivered; the message names where, never a secret."""


class FileTransport:
    """Appends one JSON event per line; each line is one write, so concurrent runs do not interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def send(self, line: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as e:
            raise DeliveryError(f"cannot write {self.path}: {first_line(e)}") from e


class HttpTransport:
    """POSTs each event as JSON (OpenLineage's HTTP API: Marquez, DataHub, OpenMetadata)."""

    def __init__(self, url: str, timeout: float, api_key_env: str | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.api_key_env = api_key_env

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path

    def send(self, line: str) -> None:
        token = os.environ.get(self.api_key_env) if self.api_key_env else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            post_json(self.url, line.encode(), where=self.where, timeout=self.timeout, headers=headers)
        except PostFailed as e:
            raise DeliveryError(str(e)) from e
