"""List an S3 bucket prefix with each object's ETag, over plain HTTP (ListObjectsV2).

pyarrow's S3 filesystem lists sizes and times but not ETags, and boto3 is no
dependency of ours; an ETag per object is what lets a rescan skip every object
that did not change, so this module asks the S3 API itself: one signed
(AWS Signature Version 4) GET per page of 1,000 keys, or unsigned for anonymous access.
"""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

TIMEOUT_SECONDS = 10.0
PAGE_KEYS = 1000  # keys per listing page, S3's maximum
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# A GET has no body; Signature Version 4 signs the hash of the empty payload.
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class S3Endpoint:
    """Where the S3 API answers: a given `url` (path-style, e.g. a local server) or AWS's own for the region."""

    region: str
    credentials: Credentials | None  # None: anonymous, requests go unsigned
    url: str | None = None

    def bucket_url(self, bucket: str) -> str:
        if self.url is not None:
            return f"{self.url.rstrip('/')}/{quote(bucket, safe='')}"
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/"


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    last_modified: datetime


class S3ListingError(Exception):
    """The listing failed; the message is one line (`NoSuchBucket: The specified bucket does not exist`)."""


def list_objects(endpoint: S3Endpoint, bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under `prefix` in `bucket`, in key order, `PAGE_KEYS` a request."""
    token: str | None = None
    while True:
        query = {"list-type": "2", "max-keys": str(PAGE_KEYS), "prefix": prefix}
        if token is not None:
            query["continuation-token"] = token
        page = ET.fromstring(_get(endpoint, endpoint.bucket_url(bucket), query))
        for item in page.iter(f"{_NS}Contents"):
            yield S3Object(
                key=item.findtext(f"{_NS}Key", ""),
                etag=item.findtext(f"{_NS}ETag", "").strip('"'),
                size=int(item.findtext(f"{_NS}Size", "0")),
                last_modified=_timestamp(item.findtext(f"{_NS}LastModified", "")),
            )
        token = page.findtext(f"{_NS}NextContinuationToken")
        if page.findtext(f"{_NS}IsTruncated") != "true" or not token:
            return


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _get(endpoint: S3Endpoint, url: str, query: dict[str, str]) -> bytes:
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    credentials = endpoint.credentials
    headers = _signed_headers(credentials, endpoint.region, url, canonical_query) if credentials else {}
    try:
        with urlopen(Request(f"{url}?{canonical_query}", headers=headers), timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except HTTPError as e:
        raise S3ListingError(_error_text(e)) from None
    except (URLError, OSError) as e:
        reason = e.reason if isinstance(e, URLError) else e
        raise S3ListingError(f"cannot reach {urlsplit(url).netloc} ({reason})") from None


def _error_text(error: HTTPError) -> str:
    """`Code: Message` from S3's XML error body, else the HTTP status."""
    try:
        body = ET.fromstring(error.read())
    except ET.ParseError:
        return f"HTTP {error.code} {error.reason}"
    code, message = body.findtext("Code"), body.findtext("Message")
    return f"{code}: {message}" if code else f"HTTP {error.code} {error.reason}"


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _signed_headers(credentials: Credentials, region: str, url: str, canonical_query: str) -> dict[str, str]:
    """The headers of a Signature Version 4 GET of `url` (no body)."""
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(url)
    headers = {"host": parts.netloc, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": amz_date}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    names = sorted(headers)
    canonical_request = "\n".join(
        ["GET", parts.path or "/", canonical_query, *(f"{n}:{headers[n]}" for n in names), "",
         ";".join(names), _EMPTY_SHA256]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope},"
        f" SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del headers["host"]  # urllib sends it from the url, as signed
    return headers
