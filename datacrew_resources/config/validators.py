"""Field checks several config sections share: an http(s) URL, an environment variable's name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import ValidationInfo

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def http_url(value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
    return value


def env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.fullmatch(value):
        raise ValueError("must be an environment variable name (letters, digits and _, not starting with a digit)")
    return value


def env_alternative(direct: str):
    """A validator of `<direct>_env`: a variable name, given only when `direct` itself is not.

    Declare `<direct>` before `<direct>_env`: pydantic validates fields in order, and
    `info.data` holds only those already validated.
    """

    def check(value: str | None, info: ValidationInfo) -> str | None:
        env_name(value)
        if value is not None and info.data.get(direct) is not None:
            raise ValueError(f"give {direct} or {direct}_env, not both")
        return value

    return check


def cron(value: str | None) -> str | None:
    # Dagster's own parser, so what passes here is what a schedule accepts.
    from dagster._utils.schedules import is_valid_cron_string

    if value is not None and not is_valid_cron_string(value):
        raise ValueError("not a valid cron expression")
    return value
