"""Jobs people launch from the UI or the CLI."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from datacrew_resources.delegation.targets import TRANSFORM_JOB


def transformation_selection(asset_keys: Sequence[dg.AssetKey]) -> dg.AssetSelection:
    """The transformations `asset_keys` with their checks, and the checks of the discovered
    datasets they read: in one run, a failing blocking check of an input skips the
    transformations reading it (Dagster's blocking checks; see `dataset_checks`).

    Only the datasets read here: the others' checks would scan the whole catalog in every
    run without gating anything (the quality monitor's job runs them).
    """
    transformations = dg.AssetSelection.assets(*asset_keys)
    inputs = transformations.upstream_source_assets()  # the external (discovered) ones
    return transformations | (dg.AssetSelection.all_asset_checks() & inputs)


def transformations_job(asset_keys: list[dg.AssetKey]) -> dg.UnresolvedAssetJobDefinition:
    """Every transformation asset and its checks, after the checks of the datasets they read."""
    return dg.define_asset_job(
        TRANSFORM_JOB,
        selection=transformation_selection(asset_keys),
        description="Materialize every transformation through its crew and run its quality checks, "
        "after the checks of the discovered datasets it reads",
    )
