"""POST a JSON body and turn every way it can fail into one line naming where it went."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

from .config.errors import first_line


class PostFailed(Exception):
    """The POST did not succeed; the message is one line starting with `where`."""


def post_json(url: str, body: bytes, *, where: str, timeout: float, headers: Mapping[str, str] = {}) -> None:
    """`where` names the endpoint in messages (callers leave out what is secret in `url`)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        raise PostFailed(f"{where} answered HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        reason = e.reason if isinstance(e.reason, str) else first_line(e.reason)
        raise PostFailed(f"{where} unreachable: {reason}") from e
    except (OSError, ValueError) as e:
        raise PostFailed(f"{where} failed: {first_line(e)}") from e
