"""Configuration: `datacrew.yaml`, transformation specs and the platform home."""

from .errors import ConfigError, ConfigErrors
from .home import HOME_ENV, Home
from .platform import (
    AgentConfig,
    Authority,
    DelegationRuleConfig,
    LLMConfig,
    PlatformConfig,
    QualityDefaults,
    SourceConfig,
    SourceType,
    load_platform_config,
)
from .spec import (
    LoadedSpec,
    TargetColumn,
    TargetSchema,
    TransformationSpec,
    TransformationType,
    load_spec,
)

__all__ = [
    "AgentConfig",
    "Authority",
    "ConfigError",
    "ConfigErrors",
    "DelegationRuleConfig",
    "HOME_ENV",
    "Home",
    "LLMConfig",
    "LoadedSpec",
    "PlatformConfig",
    "QualityDefaults",
    "SourceConfig",
    "SourceType",
    "TargetColumn",
    "TargetSchema",
    "TransformationSpec",
    "TransformationType",
    "load_platform_config",
    "load_spec",
]
