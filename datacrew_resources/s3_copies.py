"""Local copies of the `s3://` datasets a transformation reads.

The engine reads files in a sandbox with external access off, and DuckDB's httpfs
extension is not available here, so before a run's engine is built every `s3://` input
is copied below `state/s3/<source>/<dataset>/` and its SourceRef points at the copy.
The object keys' layout is kept, so `key=value` directories still give the partition
values, and DuckDB and Spark read the copy exactly as they read a local lake.

Each run lists the dataset's objects again: it reads what the bucket holds now, as a
glob over a local lake does. Only objects whose ETag differs from the copy's are fetched
(the ETags sit in `.etags.json` beside the copy), and copies of objects no longer
listed are removed. Each object is written to a temp name and renamed, so a reader
never sees half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from .catalog.s3_lake import S3Options, s3_endpoint, s3_filesystem
from .catalog.s3_listing import S3ListingError, S3Object, list_objects
from .catalog.stream_source import read_options
from .config import Home, PlatformConfig, SourceConfig
from .config.errors import ConfigError, first_line
from .engine import SourceRef
from .engine.sources import GLOB

ETAGS = ".etags.json"
FETCH_THREADS = 8  # objects fetched at once: partitions are many and small, the time goes in round trips
_CHUNK = 1 << 20


def with_s3_copies(home: Home, config: PlatformConfig, refs: dict[str, SourceRef],
                   keys: Iterable[str]) -> dict[str, SourceRef]:
    """`refs`, with every `s3://` one among `keys` pointing at a fresh local copy."""
    sources = {source.name: source for source in config.sources}
    copied = dict(refs)
    for key in dict.fromkeys(keys):
        ref = refs.get(key)
        if ref is None or not ref.location.startswith("s3://"):
            continue
        source_name, _, dataset = key.partition("/")
        source = sources.get(source_name)
        if source is None:
            raise ConfigError("its source is no longer in datacrew.yaml", field=key, value=ref.location)
        copy = home.state_dir / "s3" / source_name / dataset
        copied[key] = replace(ref, location=copy_dataset(source, ref, copy), recorded=None)
    return copied


def copy_dataset(source: SourceConfig, ref: SourceRef, copy: Path) -> str:
    """Bring `copy` up to date with the objects of `ref`'s dataset; the local location to read."""
    options = read_options(source, S3Options)
    parts = urlsplit(ref.location)
    bucket, path = parts.netloc, parts.path.lstrip("/")
    wildcard = GLOB.search(path)
    # A glob dataset is every object under its directory with its suffix; else one object.
    prefix = path[:wildcard.start()] if wildcard else path
    suffix = path.rsplit("*", 1)[1] if wildcard else ""
    base = prefix if wildcard else path[:path.rfind("/") + 1]  # an object at the bucket's root: ""
    endpoint = s3_endpoint(source, options)
    try:
        listed = [obj for obj in list_objects(endpoint, bucket, prefix)
                  if (obj.key.endswith(suffix) if wildcard else obj.key == path)]
    except S3ListingError as e:
        raise ConfigError(f"cannot list its objects: {first_line(e)}", field=ref.key, value=ref.location) from None
    if not listed:
        raise ConfigError("no objects in the bucket any more", field=ref.key, value=ref.location)
    copy.mkdir(parents=True, exist_ok=True)
    etags = _read_etags(copy)
    wanted = {obj.key[len(base):]: obj for obj in listed}
    stale = [rel for rel, obj in wanted.items() if etags.get(rel) != obj.etag or not (copy / rel).exists()]
    filesystem = s3_filesystem(endpoint)
    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        list(pool.map(lambda rel: _fetch(filesystem, bucket, wanted[rel], copy / rel, ref), stale))
    etags.update({rel: wanted[rel].etag for rel in stale})
    for rel in set(etags) - set(wanted):
        (copy / rel).unlink(missing_ok=True)
        del etags[rel]
    _write_etags(copy, etags)
    return str(copy / path[len(base):])


def _fetch(filesystem: pafs.S3FileSystem, bucket: str, obj: S3Object, target: Path, ref: SourceRef) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, filesystem.open_input_stream(f"{bucket}/{obj.key}") as stream:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
        # The object's time, not the fetch's: freshness checks read the copy's modification time.
        modified = obj.last_modified.timestamp()
        os.utime(temp, (modified, modified))
        os.replace(temp, target)
    except OSError as e:
        Path(temp).unlink(missing_ok=True)
        raise ConfigError(f"cannot copy s3://{bucket}/{obj.key}: {first_line(e)}", field=ref.key,
                          value=ref.location) from None


def _read_etags(copy: Path) -> dict[str, str]:
    try:
        return json.loads((copy / ETAGS).read_text())
    except (OSError, ValueError):
        return {}  # no copy yet, or a torn one: every object is fetched again


def _write_etags(copy: Path, etags: dict[str, str]) -> None:
    handle, temp = tempfile.mkstemp(prefix=f"{ETAGS}.", dir=copy)
    with os.fdopen(handle, "w") as out:
        json.dump(etags, out, sort_keys=True)
    os.replace(temp, copy / ETAGS)
