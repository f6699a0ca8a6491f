"""Shared steps of the delegation tests: configure a home, submit, tick the gate sensor."""

from __future__ import annotations

import dagster as dg
import yaml

from datacrew_assets.definitions import build_definitions
from datacrew_assets.delegation import GATE_SENSOR
from datacrew_resources.config import Home
from datacrew_resources.delegation.service import Delegation

# Facts and resources rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR) accepts.
COORD_FACTS = {"stage_scope": True, "data_quality_threshold": 0.95}
COORD_RESOURCES = {"cpu": 2, "memory": 100}


def edit_config(home: Home, **changes) -> None:
    """Rewrite datacrew.yaml with top-level sections replaced (None removes one)."""
    data = yaml.safe_load(home.config_path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    home.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def set_agent(home: Home, agent_id: str, **fields) -> None:
    data = yaml.safe_load(home.config_path.read_text())
    for agent in data["agents"]:
        if agent["id"] == agent_id:
            agent.update(fields)
    home.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def submit_coordinated(home: Home, target: str = "etl-developer-1", task_type: str = "data_validation", **extra):
    """A request rule 2 allows: etl-architect-1 (coordinator) asks a collaborator."""
    return Delegation(home).submit(requester="etl-architect-1", target=target, task_type=task_type,
                                   facts=extra.pop("facts", COORD_FACTS),
                                   resources=extra.pop("resources", COORD_RESOURCES), **extra)


def tick(home: Home, instance: dg.DagsterInstance, cursor: str | None = None):
    """One evaluation of the gate sensor as the daemon runs it (run requests resolved against
    the sensor's jobs): the result has `run_requests` and `cursor`."""
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def(GATE_SENSOR)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)
