"""moto's S3 API server on a free loopback port, with a bucket `lake` and keys in the environment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import Request, urlopen

import boto3
import pytest
from moto.server import ThreadedMotoServer

KEY_ENV, SECRET_ENV = "DATACREW_TEST_S3_KEY", "DATACREW_TEST_S3_SECRET"


@dataclass
class S3:
    url: str
    client: object  # boto3's S3 client, used to lay out the bucket

    def put(self, key: str, body: bytes, acl: str = "private") -> None:
        self.client.put_object(Bucket="lake", Key=key, Body=body, ACL=acl)

    def put_file(self, key: str, path: Path, acl: str = "private") -> None:
        self.put(key, path.read_bytes(), acl)

    def post(self, path: str, body: bytes = b"") -> None:
        headers = {"Content-Type": "text/plain"}  # moto reads a form-encoded body as a form, not as data
        urlopen(Request(f"{self.url}{path}", data=body, headers=headers, method="POST")).close()


def serve_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """The server (its keys in KEY_ENV and SECRET_ENV), reset and stopped afterwards."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv(KEY_ENV, "AKIDTESTING")
    monkeypatch.setenv(SECRET_ENV, "secret-testing")
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="AKIDTESTING", aws_secret_access_key="secret-testing",
    )
    client.create_bucket(Bucket="lake")
    service = S3(url, client)
    try:
        yield service
    finally:
        service.post("/moto-api/reset-auth", b"inf")  # moto's state is per process: leave it open and empty
        service.post("/moto-api/reset")
        server.stop()
