"""Jobs people launch from the UI or the CLI."""

from __future__ import annotations

import dagster as dg

from datacrew_resources.delegation.targets import TRANSFORM_JOB


def transformations_job(asset_keys: list[dg.AssetKey]) -> dg.UnresolvedAssetJobDefinition:
    """Every transformation asset and its checks, in dependency order."""
    return dg.define_asset_job(
        TRANSFORM_JOB,
        selection=dg.AssetSelection.assets(*asset_keys),
        description="Materialize every transformation through its crew and run its quality checks",
    )
