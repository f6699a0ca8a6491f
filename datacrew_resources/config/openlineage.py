"""`datacrew.yaml` `openlineage:`: where each materialization's OpenLineage run events go."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .validators import env_name, http_url

NAMESPACE = re.compile(r"\S+")


class OpenLineageConfig(BaseModel):
    """Run events (START, then COMPLETE or FAIL) of every transformation materialization.

    `file` (the default) appends them to `<home>/state/openlineage.jsonl`; `http` posts each
    to `url` (for Marquez `http://host:5000/api/v1/lineage`) and keeps the ones it could not
    send in that same file; `none` emits nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["file", "http", "none"] = "file"
    namespace: str = Field(default="datacrew", description="the OpenLineage job namespace")
    file: str = Field(default="state/openlineage.jsonl", description="JSONL file, relative to the home")
    url: str | None = Field(default=None, description="the endpoint events are posted to")
    api_key_env: str | None = Field(
        default=None, description="name of the env var holding a bearer token for `url` (it is a secret)"
    )
    timeout_seconds: float = Field(default=5, gt=0)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not NAMESPACE.fullmatch(value):
            raise ValueError("must be a non-empty name without spaces")
        return value

    @field_validator("file")
    @classmethod
    def _inside_home(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or value.startswith("~"):
            raise ValueError("must be a relative path inside the home, without '..'")
        return value

    _url = field_validator("url")(http_url)
    _env = field_validator("api_key_env")(env_name)

    @model_validator(mode="after")
    def _url_for_http(self) -> "OpenLineageConfig":
        if self.transport == "http" and self.url is None:
            raise ValueError("transport 'http' needs a url")
        return self
