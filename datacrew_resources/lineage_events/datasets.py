"""How datacrew's datasets are named in OpenLineage: namespace from where they live, name = asset key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from datacrew_resources.config import Home, PlatformConfig, TransformationSpec

OUTPUTS_SOURCE = "outputs"


@dataclass(frozen=True)
class DatasetRef:
    """One dataset as OpenLineage sees it, and the data source (`dataSource` facet) holding it."""

    namespace: str
    name: str  # the asset key as specs spell it: `lake/flights`, `transformed/flights_clean`
    source_name: str
    source_uri: str


def home_namespace(home: Home) -> str:
    """Everything stored on the home's file system (local sources and all outputs) shares one namespace."""
    return home.root.as_uri()


def located(uri: str, home: Home) -> tuple[str, str]:
    """(namespace, uri) of a source uri: `scheme://host[:port]` for a server or bucket, the home
    for a local path. Credentials, query and fragment never leave the machine."""
    parts = urlsplit(uri)
    if parts.scheme and parts.hostname:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{netloc}", urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return home_namespace(home), home.resolve_uri(uri).as_uri()


def input_refs(home: Home, config: PlatformConfig, spec: TransformationSpec) -> list[DatasetRef]:
    """The spec's sources: discovered datasets where their source lives, transformation outputs in the home."""
    refs = []
    for key in spec.sources:
        source = config.source(key.split("/")[0])
        if source is None:  # another transformation's output
            refs.append(DatasetRef(home_namespace(home), key, OUTPUTS_SOURCE, home.outputs_dir.as_uri()))
        else:
            namespace, uri = located(source.uri, home)
            refs.append(DatasetRef(namespace, key, source.name, uri))
    return refs


def output_ref(home: Home, spec: TransformationSpec, output_uri: str | None = None) -> DatasetRef:
    """The spec's output; `output_uri` (a path, `database#table` for a warehouse) once it is written."""
    uri = home.outputs_dir.as_uri()
    if output_uri is not None:
        path, _, table = output_uri.partition("#")
        uri = Path(path).absolute().as_uri() + (f"#{table}" if table else "")
    return DatasetRef(home_namespace(home), spec.key_string, OUTPUTS_SOURCE, uri)
