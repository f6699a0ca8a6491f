"""Transformation specs: the YAML files that describe one transformation asset each."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .classification import Classification
from .errors import ConfigError, ConfigErrors, from_pydantic
from .quality import BlockableCheck, RowCountAnomalyOverrides, SlaOverrides
from .validators import cron

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SOURCE_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")
DEFAULT_LAYER = "transformed"


def lower_snake(value: str) -> str:
    """A name usable in asset keys and file names."""
    if not NAME_PATTERN.match(value):
        raise ValueError("must be lowercase snake_case (a-z, 0-9, _)")
    return value


class TransformationType(str, Enum):
    etl = "etl"
    aggregation = "aggregation"
    join = "join"
    enrichment = "enrichment"
    cleansing = "cleansing"
    normalization = "normalization"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterRule(_Strict):
    filter: str = Field(description="DuckDB boolean expression; rows where it is true are kept")


class DeriveRule(_Strict):
    derive: dict[str, str] = Field(description="new or replaced column -> DuckDB expression")


class SelectRule(_Strict):
    select: list[str]


class RenameRule(_Strict):
    rename: dict[str, str] = Field(description="old name -> new name")


class CastRule(_Strict):
    cast: dict[str, str] = Field(description="column -> DuckDB type")


class GroupByRule(_Strict):
    group_by: list[str]


class AggregateRule(_Strict):
    aggregate: dict[str, str] = Field(description="output column -> aggregate expression")


class JoinSpec(_Strict):
    source: str
    on: list[str] | dict[str, str] = Field(
        description="shared key names, or left column -> right column"
    )
    how: Literal["inner", "left", "right", "full", "anti", "semi"] = "inner"
    columns: list[str] | None = Field(
        default=None, description="right-side columns to keep (default: all but the keys)"
    )
    prefix: str = Field(default="", description="prefix for kept right-side columns")

    @field_validator("source")
    @classmethod
    def _source_key(cls, value: str) -> str:
        if not SOURCE_KEY_PATTERN.match(value):
            raise ValueError("must be 'source/dataset' in lowercase")
        return value


class JoinRule(_Strict):
    join: JoinSpec


class DropRule(_Strict):
    drop: list[str]


class DedupeSpec(_Strict):
    keys: list[str] = Field(min_length=1, description="columns that identify a row")
    order: list[str] = Field(
        default_factory=list,
        description="ORDER BY terms; the first row per key in this order is kept (ties: the "
        "smallest by the other columns, so the choice is deterministic)",
    )


class DedupeRule(_Strict):
    dedupe: DedupeSpec

    @field_validator("dedupe", mode="before")
    @classmethod
    def _keys_shorthand(cls, value: Any) -> Any:
        return {"keys": value} if isinstance(value, list) else value


class FillNullRule(_Strict):
    fill_null: dict[str, Any] = Field(description="column -> literal value used where it is NULL")


class NormalizeSpec(_Strict):
    trim: list[str] = Field(default_factory=list)
    lower: list[str] = Field(default_factory=list)
    upper: list[str] = Field(default_factory=list)
    categories: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="column -> {canonical value: [variants]}; matched after trim, case-insensitively",
    )
    min_max: list[str] = Field(
        default_factory=list, description="scaled to [0, 1] as DOUBLE; 0.0 when max = min"
    )
    z_score: list[str] = Field(
        default_factory=list,
        description="(x - mean) / sample stddev as DOUBLE; 0.0 when stddev is 0 or undefined",
    )


class NormalizeRule(_Strict):
    normalize: NormalizeSpec


class SqlRule(_Strict):
    sql: str = Field(
        description="one SELECT over the sources (by quoted key) and `previous`, the rules so far"
    )


RULE_KINDS: dict[str, type[BaseModel]] = {
    "filter": FilterRule,
    "derive": DeriveRule,
    "select": SelectRule,
    "rename": RenameRule,
    "cast": CastRule,
    "group_by": GroupByRule,
    "aggregate": AggregateRule,
    "join": JoinRule,
    "drop": DropRule,
    "dedupe": DedupeRule,
    "fill_null": FillNullRule,
    "normalize": NormalizeRule,
    "sql": SqlRule,
}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(k for k, model in RULE_KINDS.items() if isinstance(value, model))
    if isinstance(value, dict) and len(value) == 1:
        kind = next(iter(value))
        return kind if kind in RULE_KINDS else None
    return None


Rule = Annotated[
    Union[tuple(Annotated[model, Tag(kind)] for kind, model in RULE_KINDS.items())],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule",
        custom_error_message=f"a rule is a mapping with exactly one of: {', '.join(RULE_KINDS)}",
    ),
]


REFERENCE_PATTERN = re.compile(r"^[a-z0-9_]+/[a-z0-9_]+\.[A-Za-z_][A-Za-z0-9_]*$")


class TargetColumn(_Strict):
    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None
    accepted_values: list[Any] | None = None
    pattern: str | None = None
    references: str | None = Field(
        default=None,
        description="'source/dataset.column' or 'layer/name.column' every non-null value must exist in",
    )

    @field_validator("pattern")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"not a valid regular expression ({e})") from None
        return value

    @field_validator("references")
    @classmethod
    def _reference_shape(cls, value: str | None) -> str | None:
        if value is not None and not REFERENCE_PATTERN.match(value):
            raise ValueError("must be 'source/dataset.column' (or 'layer/name.column')")
        return value


class TargetSchema(_Strict):
    """The output contract.

    Columns and types always hold or the run fails. Under `fail` (the default)
    any violation fails the run. Under `warn` nullability still fails it, while
    primary-key uniqueness and value constraints are written and left to the
    consistency and accuracy checks. Under `quarantine` every row that breaks
    nullability, primary-key uniqueness (all rows sharing a key) or a value
    constraint goes to a quarantine output beside the main one, with a
    `_violation` list naming the broken rules; the main output gets the rest.
    """

    columns: list[TargetColumn] = Field(min_length=1)
    on_violation: Literal["fail", "warn", "quarantine"] = "fail"

    @field_validator("columns")
    @classmethod
    def _unique_names(cls, columns: list[TargetColumn]) -> list[TargetColumn]:
        names = [c.name for c in columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"columns declared twice: {', '.join(repeated)}")
        return columns

    @field_validator("on_violation")
    @classmethod
    def _room_for_violation_column(cls, value: str, info: ValidationInfo) -> str:
        names = {c.name.lower() for c in info.data.get("columns") or []}
        if value == "quarantine" and QUARANTINE_COLUMN in names:
            raise ValueError(f"quarantine adds a {QUARANTINE_COLUMN!r} column; rename the declared one")
        return value

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]


QUARANTINE_COLUMN = "_violation"
WAREHOUSE_TABLE_PATTERN = re.compile(r"^([a-z][a-z0-9_]*\.)?[a-z][a-z0-9_]*$")


class OutputSpec(_Strict):
    """Where and how the output is written (locations: `engine.outputs`)."""

    format: Literal["parquet", "csv", "json", "warehouse"] = "parquet"
    partition_by: list[str] = Field(
        default_factory=list, description="hive partition columns (a directory of key=value/ parts)"
    )
    database: str | None = Field(
        default=None,
        description="warehouse only: DuckDB file, relative to the outputs directory or absolute "
        "inside it (default warehouse.duckdb)",
    )
    table: str | None = Field(
        default=None, description="warehouse only: [schema.]table (default LAYER.NAME)"
    )

    @field_validator("partition_by")
    @classmethod
    def _distinct_partitions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("format") == "warehouse":
            raise ValueError("a warehouse table is not partitioned")
        if len({v.lower() for v in value}) != len(value):
            raise ValueError("partition columns repeat")
        return value

    @field_validator("database", "table")
    @classmethod
    def _warehouse_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("format") != "warehouse":
            raise ValueError("only applies to format: warehouse")
        if value is not None and info.field_name == "table" and not WAREHOUSE_TABLE_PATTERN.match(value):
            raise ValueError("must be 'table' or 'schema.table' in lowercase snake_case")
        if value is not None and info.field_name == "database" and (not value or ".." in Path(value).parts):
            raise ValueError("must be a file path without '..'")
        return value


class QualityThresholds(_Strict):
    """Share of rows (0..1) that must pass; `None` means the platform default."""

    completeness: float | None = Field(default=None, ge=0, le=1)
    consistency: float | None = Field(default=None, ge=0, le=1)
    accuracy: float | None = Field(default=None, ge=0, le=1)
    row_count_anomaly: RowCountAnomalyOverrides = Field(default_factory=RowCountAnomalyOverrides)
    blocking: list[BlockableCheck] = Field(
        default_factory=list,
        description="checks that stop downstream assets when they fail (schema_conformity always does)",
    )


PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class PartitionSpec(_Strict):
    """Dagster partitions of a transformation: each partition is the output rows of one slice.

    `time`: slices of `column` (a DATE or TIMESTAMP output column) by `granularity`
    from `start` (to `end`, default: now); `static`: one slice per value of `column`.
    """

    type: Literal["time", "static"]
    column: str
    granularity: Literal["daily", "weekly", "monthly"] = "monthly"
    start: date | None = None
    end: date | None = None
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> "PartitionSpec":
        if self.type == "time" and self.start is None:
            raise ValueError("time partitions need a start date")
        if self.type == "static" and not self.values:
            raise ValueError("static partitions need values")
        unsafe = [v for v in self.values if not PARTITION_VALUE.match(v)]
        if unsafe:
            # Each value names a file: refuse rather than map two values to one file.
            raise ValueError(f"values must be letters, digits, '_', '-' or '.', not {unsafe[0]!r}")
        return self


class SpecSchedule(_Strict):
    """When the platform asks for this transformation on a cron.

    A tick never launches the run itself: it submits a delegation request from
    `requester` to the spec's `agent`, judged by the rules as `task_type`, and the
    delegation gate launches it if they allow it. Unset `requester` and `task_type`
    come from the first delegation rule that reaches the agent's authority (see
    `datacrew_resources.delegation.spec_schedules`). A bare cron string is the short form.
    """

    cron: str
    timezone: str = "UTC"
    requester: str | None = Field(default=None, description="the agent asking for the run (roster id)")
    task_type: str | None = Field(default=None, description="the rule task type the request is judged as")
    priority: Literal["low", "medium", "high", "critical", "emergency"] = "medium"
    facts: dict[str, Any] = Field(default_factory=dict, description="facts for the rule's conditions")
    resources: dict[str, Any] = Field(default_factory=dict, description="resources asked of the rule")

    _cron = field_validator("cron")(cron)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            # Checked here, so a bad short form is reported at `schedule`, not `schedule.cron`.
            return {"cron": cron(value)}
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name such as UTC or Europe/Berlin)") from None
        return value


# The engines a spec's SQL runs on (`datacrew_resources.engine`, `engine.spark`).
EngineName = Literal["duckdb", "spark"]


class TransformationSpec(_Strict):
    name: str
    type: TransformationType
    description: str = ""
    sources: list[str] = Field(min_length=1)
    intent: str = ""
    rules: list[Rule] = Field(default_factory=list)
    target_schema: TargetSchema
    output: OutputSpec = Field(default_factory=OutputSpec)
    quality: QualityThresholds = Field(default_factory=QualityThresholds)
    sla: SlaOverrides = Field(default_factory=SlaOverrides)
    owner: str = "team:data-platform"
    classification: Classification = "internal"
    agent: str = "etl-architect-1"
    schedule: SpecSchedule | None = None
    layer: str = DEFAULT_LAYER
    partitions: PartitionSpec | None = None
    engine: EngineName | None = Field(default=None, description="unset: the platform's `engine.name`")

    _names = field_validator("name", "layer")(lower_snake)

    @field_validator("sources")
    @classmethod
    def _source_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not SOURCE_KEY_PATTERN.match(key):
                raise ValueError(f"{key!r} must be 'source/dataset' in lowercase")
        return value

    @model_validator(mode="after")
    def _partition_column_is_output(self) -> "TransformationSpec":
        if not self.partitions:
            return self
        if self.partitions.column not in {c.name for c in self.target_schema.columns}:
            raise ValueError(
                f"partitions.column {self.partitions.column!r} is not a target_schema column"
            )
        # One parquet file per Dagster partition: no second layout on top of it.
        if self.output.format != "parquet" or self.output.partition_by:
            raise ValueError("partitions: need output.format parquet without output.partition_by")
        if self.target_schema.on_violation == "quarantine":
            raise ValueError("partitions: cannot be combined with target_schema.on_violation quarantine")
        if not self.rules:
            # A partition narrows the rules' result; an intent-only spec has no rules to narrow.
            raise ValueError("partitions: need rules (an intent-only spec cannot be partitioned)")
        return self

    @field_validator("owner")
    @classmethod
    def _owner_form(cls, value: str) -> str:
        if not (value.startswith("team:") or "@" in value):
            raise ValueError("must be 'team:NAME' or an email address")
        return value

    @field_validator("rules")
    @classmethod
    def _joins_are_sources(cls, rules: list[Any], info: ValidationInfo) -> list[Any]:
        sources = info.data.get("sources")
        if sources is None:
            return rules  # sources itself is invalid and reported
        for index, rule in enumerate(rules):
            if isinstance(rule, JoinRule) and rule.join.source not in sources:
                raise ValueError(
                    f"rule {index}: join source {rule.join.source!r} is not listed in sources {sources}"
                )
        return rules

    @property
    def asset_key(self) -> list[str]:
        return [self.layer, self.name]

    @property
    def key_string(self) -> str:
        return "/".join(self.asset_key)

    @property
    def code_version(self) -> str:
        """Hash of everything that shapes the output, so Dagster can flag stale assets."""
        # Not the engine: both engines write the same output, so switching is no change.
        payload = json.dumps(self.model_dump(mode="json", exclude={"engine"}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class LoadedSpec(BaseModel):
    """A spec together with the file it came from (for error messages)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: TransformationSpec
    path: Path


def load_spec(path: Path, *, display: str | None = None) -> LoadedSpec:
    """Parse one spec file; raise ConfigErrors naming the file and field on any problem."""
    shown = display or str(path)
    data = read_yaml_mapping(path, shown)
    try:
        return LoadedSpec(spec=TransformationSpec.model_validate(data), path=path)
    except ValidationError as e:
        raise ConfigErrors(from_pydantic(e, file=shown)) from None


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, so a join's `on:` key stays the string "on"."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml_mapping(path: Path, shown: str) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigErrors([ConfigError(f"cannot read file ({e.strerror})", file=shown)]) from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigErrors([ConfigError(f"invalid YAML: {problem}", file=shown, field=where)]) from None
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigError("must be a YAML mapping", file=shown)])
    return data


def find_spec(specs: list[LoadedSpec], name: str) -> LoadedSpec:
    """The spec called `name` or keyed `layer/name`; a one-line error lists the known ones."""
    for loaded in specs:
        if name in (loaded.spec.name, loaded.spec.key_string):
            return loaded
    known = ", ".join(sorted(l.spec.name for l in specs)) or "none"
    raise ConfigErrors([ConfigError(f"no such transformation (known: {known})", field="name", value=name)])
