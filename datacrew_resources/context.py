"""The tutorial's DataProcessingToolExecutionContext, made real for one crew run.

It is decided before the crew starts and bounds what the crew's tools can do:
the engine gets only the sources the agent's clearance allows and the DuckDB
limits of the agent (never more than the platform's).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from .catalog.governance import record_classification
from .catalog.models import DatasetRecord
from .catalog.store import CatalogStore
from .config import AgentConfig, Authority, ConfigError, Home, LoadedSpec, PlatformConfig
from .config.classification import may_read
from .config.platform import EngineConfig
from .engine import Engine
from .quality import thresholds
from .source_refs import build_engine


class ToolExecutionContext(BaseModel):
    """Who runs, for which run and task, within which limits and governance rules."""

    agent_id: str
    pipeline_id: str = Field(description="the Dagster run id")
    task_id: str = Field(description="the asset key, with the partition if any")
    execution_timestamp: datetime
    resource_limits: dict[str, Any]
    security_context: dict[str, str]
    data_governance_rules: dict[str, Any]
    quality_thresholds: dict[str, float]


def run_agent(config: PlatformConfig, agent_id: str) -> AgentConfig:
    """The roster entry; with no roster at all, an internal-clearance agent on platform limits."""
    for agent in config.agents:
        if agent.id == agent_id:
            return agent
    if config.agents:
        known = ", ".join(sorted(a.id for a in config.agents))
        raise ConfigError(f"unknown agent (roster: {known})", field="agent", value=agent_id)
    return AgentConfig(id=agent_id, authority=Authority.PIPELINE_COLLABORATOR)


def classifications(
    config: PlatformConfig, records: list[DatasetRecord], specs: list[LoadedSpec]
) -> dict[str, str]:
    """Every readable key's classification: its source's (raised by what discovery found in
    the data, such as personal data), or the producing spec's."""
    by_source = {s.name: s.classification for s in config.sources}
    found = {r.key_string: record_classification(r, by_source.get(r.source, "internal")) for r in records}
    found.update({l.spec.key_string: l.spec.classification for l in specs})
    return found


def check_clearance(agent: AgentConfig, loaded: LoadedSpec, classified: dict[str, str], *, file: str) -> None:
    """Refuse a spec that reads data above its agent's clearance, or labels its output
    below what it reads (which would let a lower-cleared agent read it downstream)."""
    levels = [(index, key, classified.get(key, "internal")) for index, key in enumerate(loaded.spec.sources)]
    for index, key, level in levels:
        if not may_read(agent.clearance, level):
            raise ConfigError(
                f"agent {agent.id!r} (clearance {agent.clearance}) may not read {level} data",
                file=file,
                field=f"sources[{index}]",
                value=key,
            )
    for index, key, level in levels:
        if not may_read(loaded.spec.classification, level):
            raise ConfigError(
                f"reads {level} data but classifies its output {loaded.spec.classification}",
                file=file,
                field=f"sources[{index}]",
                value=key,
            )


def governed_engine(
    home: Home,
    config: PlatformConfig,
    specs: list[LoadedSpec],
    loaded: LoadedSpec,
    *,
    agent_id: str,
    file: str,
    run_id: str,
    task_id: str,
) -> tuple[Engine, ToolExecutionContext]:
    """The engine one agent may use for one spec, and the context that says why.

    Refuses a spec reading above the agent's clearance; the engine sees only the
    sources the agent may read, within the agent's DuckDB limits.
    """
    agent = run_agent(config, agent_id)
    classified = classifications(config, CatalogStore.for_home(home, config).all(), specs)
    check_clearance(agent, loaded, classified, file=file)
    limits = config.engine.limited_by(agent.resource_limits)
    engine = build_engine(
        home, config, specs, limits=limits,
        readable=lambda key: may_read(agent.clearance, classified.get(key, "internal")),
        reads=loaded.spec.sources,
    )
    context = _context(agent, loaded, limits, classified, run_id=run_id, task_id=task_id,
                       thresholds=thresholds(loaded.spec, config.quality))
    return engine, context


def _context(
    agent: AgentConfig,
    loaded: LoadedSpec,
    limits: EngineConfig,
    classified: dict[str, str],
    *,
    run_id: str,
    task_id: str,
    thresholds: dict[str, float],
) -> ToolExecutionContext:
    spec = loaded.spec
    return ToolExecutionContext(
        agent_id=agent.id,
        pipeline_id=run_id,
        task_id=task_id,
        execution_timestamp=datetime.now(timezone.utc),
        resource_limits=limits.model_dump(),
        security_context={"authority": agent.authority.name, "clearance": agent.clearance},
        data_governance_rules={
            "readable": {key: classified.get(key, "internal") for key in spec.sources},
            "output_classification": spec.classification,
        },
        quality_thresholds=thresholds,
    )
