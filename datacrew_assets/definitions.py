"""The one place where datacrew's Dagster `Definitions` are assembled."""

from __future__ import annotations

import dagster as dg

from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.executors import executor_for
from datacrew_resources.instance import warehouse_pool
from datacrew_resources.resources import CrewResource, PlatformResource

from .alerts import alert_definitions
from .dataset_checks import dataset_check_definitions
from .delegation import delegation_definitions
from .discovered import discovered_asset_specs
from .discovery import discovery_definitions
from .freshness import freshness_definitions
from .jobs import transformations_job
from .transformations import transformation_asset


def build_definitions(home: Home) -> dg.Definitions:
    """Definitions for one home, from its config, specs and catalog store (no source scans)."""
    config = home.load_config()
    specs = home.load_specs(config)
    records = CatalogStore.for_home(home, config).all()
    transformations = [
        transformation_asset(loaded=loaded, quality=config.quality, slas=config.slas,
                             pool=warehouse_pool(loaded.spec, home.outputs_dir))
        for loaded in specs
    ]
    # One job cannot mix partitioned and unpartitioned assets: partitioned
    # ones are materialized (and backfilled) per partition from the UI.
    transform_job = transformations_job([dg.AssetKey(l.spec.asset_key) for l in specs if not l.spec.partitions])
    core = dg.Definitions(
        assets=[*discovered_asset_specs(records), *transformations],
        jobs=[transform_job],
        resources={
            "platform": PlatformResource(home_dir=str(home.root)),
            "crew": CrewResource(home_dir=str(home.root)),
        },
        executor=executor_for(config.executor),
    )
    delegation = Delegation(home, config, specs)
    return dg.Definitions.merge(
        core,
        delegation_definitions(delegation, {transform_job.name: transform_job}),
        alert_definitions(home=home, config=config.alerts),
        freshness_definitions(specs, config.slas),
        dataset_check_definitions(records=records, config=config, specs=specs),
        discovery_definitions(home),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Entry point for `dagster dev` / `workspace.yaml`: the home named by DATACREW_HOME."""
    return build_definitions(Home.resolve())
