"""`datacrew.yaml`: sources, agents, delegation rules, transformations, quality, llm."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .alerts import AlertsConfig
from .openlineage import OpenLineageConfig
from .classification import Classification
from .delegation import ApproverConfig, GateConfig, ScheduleConfig, TaskTypeConfig
from .errors import ConfigError, ConfigErrors, from_pydantic
from .executor import ExecutorConfig
from .instance import InstanceConfig
from .quality import QualityDefaults, SlaDefaults
from .datasets import DatasetsConfig
from .spec import EngineName, lower_snake, read_yaml_mapping

CONFIG_FILE = "datacrew.yaml"


class SourceType(str, Enum):
    data_lake = "data_lake"
    data_warehouse = "data_warehouse"
    streaming = "streaming"
    api_endpoints = "api_endpoints"
    file_systems = "file_systems"


class Authority(int, Enum):
    """The tutorial's five delegation authority levels, lowest first."""

    DATA_PROCESSOR = 1
    PIPELINE_COLLABORATOR = 2
    STAGE_COORDINATOR = 3
    PIPELINE_MANAGER = 4
    DATA_ARCHITECT = 5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    name: str
    type: SourceType
    uri: str = Field(description="directory or file; relative paths are relative to the home")
    owner: str = "team:data-platform"
    description: str = ""
    classification: Classification = "internal"
    options: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(lower_snake)

    @field_validator("uri")
    @classmethod
    def _no_traversal(cls, value: str) -> str:
        if ".." in Path(value).parts or value.startswith("~"):
            raise ValueError("must not contain '..' or start with '~'")
        return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _size(value: str | None) -> str | None:
    if value is not None and not _SIZE.fullmatch(value):
        raise ValueError("must be a size such as '4GB' or '512MiB'")
    return value


def size_bytes(value: str) -> float:
    """'4GB' -> 4e9, '512MiB' -> 536870912 (DuckDB's units)."""
    number, unit = _SIZE.fullmatch(value).groups()
    return float(number) * _UNITS[unit]


class ResourceLimits(_Strict):
    """What one agent's runs may use; unset fields fall back to the platform's engine settings."""

    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    max_temp_directory_size: str | None = None

    _sizes = field_validator("memory_limit", "max_temp_directory_size")(_size)


class AgentConfig(_Strict):
    id: str
    authority: Authority
    role: Literal[
        "discovery_specialist", "etl_architect", "quality_validator", "pipeline_orchestrator"
    ] = "etl_architect"
    specializations: dict[str, float] = Field(default_factory=dict)
    capacity: int = Field(default=10, ge=1)
    clearance: Classification = Field(default="internal", description="the most sensitive data it may read")
    resource_limits: ResourceLimits = Field(default_factory=ResourceLimits)

    @field_validator("authority", mode="before")
    @classmethod
    def _authority_by_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Authority[value.upper()]
            except KeyError:
                raise ValueError(
                    f"unknown authority (known: {', '.join(a.name for a in Authority)})"
                ) from None
        return value


class DelegationRuleConfig(_Strict):
    from_authority: Authority
    to_authority: Authority
    task_types: list[str]
    conditions: dict[str, Any] = Field(default_factory=dict)
    resource_limits: dict[str, Any] = Field(default_factory=dict)
    approval_required: bool = False
    escalation_path: list[str] = Field(default_factory=list)
    data_governance_required: bool = True
    quality_validation_required: bool = True

    _by_name = field_validator("from_authority", "to_authority", mode="before")(
        AgentConfig._authority_by_name.__func__
    )


class LLMConfig(_Strict):
    """`planner` is the deterministic offline planner; anything else is a CrewAI model id."""

    model: str = "planner"
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="name of the env var holding the key")
    temperature: float = 0.0
    max_iterations: int = Field(
        default=12,
        ge=1,
        description="model calls one crew task may make, its final answer included",
    )
    timeout_seconds: float = Field(
        default=120,
        gt=0,
        description="wall-clock limit of one crew run, and of each model request",
    )


class EngineConfig(_Strict):
    name: EngineName = Field(default="duckdb", description="runs every spec without its own `engine:`")
    memory_limit: str = "4GB"
    threads: int = Field(default=2, ge=1)
    max_temp_directory_size: str = "20GB"

    _sizes = field_validator("memory_limit", "max_temp_directory_size")(_size)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value  # `engine: spark`

    def limited_by(self, limits: ResourceLimits) -> "EngineConfig":
        """These settings narrowed by an agent's limits: an agent never gets more than the platform."""
        updates: dict[str, Any] = {}
        if limits.threads is not None:
            updates["threads"] = min(limits.threads, self.threads)
        for name in ("memory_limit", "max_temp_directory_size"):
            asked = getattr(limits, name)
            if asked is not None and size_bytes(asked) < size_bytes(getattr(self, name)):
                updates[name] = asked
        return self.model_copy(update=updates)


class PlatformConfig(_Strict):
    sources: list[SourceConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    delegation_rules: list[DelegationRuleConfig] = Field(default_factory=list)
    transformations: str = "specs/*.yaml"
    quality: QualityDefaults = Field(default_factory=QualityDefaults)
    slas: SlaDefaults = Field(default_factory=SlaDefaults)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    task_types: dict[str, TaskTypeConfig] = Field(default_factory=dict)
    approvers: list[ApproverConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    gate: GateConfig = Field(default_factory=GateConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    datasets: DatasetsConfig = Field(default_factory=DatasetsConfig)
    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    instance: InstanceConfig = Field(default_factory=InstanceConfig)

    @field_validator("sources", "agents", "approvers", "schedules")
    @classmethod
    def _unique_names(cls, items: list[Any]) -> list[Any]:
        names = [getattr(item, "name", None) or getattr(item, "id") for item in items]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"names must be unique: {', '.join(repeated)} repeat")
        return items

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


def load_platform_config(path: Path) -> PlatformConfig:
    """Parse `datacrew.yaml`; raise ConfigErrors with one line per problem."""
    shown = path.name if path.name == CONFIG_FILE else str(path)
    data = read_yaml_mapping(path, shown)
    try:
        config = PlatformConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigErrors(from_pydantic(e, file=shown)) from None
    from .delegation_checks import delegation_problems  # it imports this module

    problems = delegation_problems(config, file=shown)
    if problems:
        raise ConfigErrors(problems)
    return config


__all__ = [
    "Authority",
    "AgentConfig",
    "ConfigError",
    "DelegationRuleConfig",
    "PlatformConfig",
    "SourceConfig",
    "SourceType",
    "load_platform_config",
]
