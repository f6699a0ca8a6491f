"""Freshness of transformations: Dagster's own last-update checks and one sensor that runs them.

A transformation has a freshness SLA when its spec sets `sla.freshness_hours` or
`slas.freshness_hours` in datacrew.yaml gives a default; without either it has no
freshness check. Assets sharing an SLA share one check definition (Dagster names the
check `freshness_check`); the sensor evaluates each check whenever it could have become
overdue, so a stale asset is reported without anyone re-running it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import dagster as dg

from datacrew_resources.config import LoadedSpec
from datacrew_resources.config.quality import SlaDefaults

FRESHNESS_CHECK = "freshness_check"
FRESHNESS_SENSOR = "transformation_freshness_sensor"


def freshness_hours(loaded: LoadedSpec, slas: SlaDefaults) -> float | None:
    own = loaded.spec.sla.freshness_hours
    return own if own is not None else slas.freshness_hours


def freshness_checks(specs: list[LoadedSpec], slas: SlaDefaults) -> list[dg.AssetChecksDefinition]:
    """One last-update freshness check per transformation with a freshness SLA."""
    by_hours: dict[float, list[dg.AssetKey]] = defaultdict(list)
    for loaded in specs:
        hours = freshness_hours(loaded, slas)
        if hours is not None:
            by_hours[hours].append(dg.AssetKey(loaded.spec.asset_key))
    return [
        check
        for hours, keys in sorted(by_hours.items())
        for check in dg.build_last_update_freshness_checks(assets=keys, lower_bound_delta=timedelta(hours=hours))
    ]


def freshness_definitions(specs: list[LoadedSpec], slas: SlaDefaults) -> dg.Definitions:
    """The freshness checks and `transformation_freshness_sensor`; nothing when no spec has an SLA."""
    checks = freshness_checks(specs, slas)
    if not checks:
        return dg.Definitions()
    # Running by default: a declared SLA is watched as soon as the daemon runs.
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks, name=FRESHNESS_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING
    )
    return dg.Definitions(asset_checks=checks, sensors=[sensor])
