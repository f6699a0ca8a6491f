"""`datasets:` in datacrew.yaml: quality checks of discovered datasets, keyed by asset key.

    datasets:
      monitor_cron: "*/5 * * * *"         # the quality_monitor schedule
      share/delay_reports:                # source/dataset
        primary_key: [report_id]
        required_columns: [report_id]     # completeness over these (default: every column)
        columns:
          distance: {min: 0}
          carrier: {references: warehouse/airlines.carrier}
        completeness: 0.95                # default: the platform's quality: thresholds
        blocking: [consistency]           # schema_conformity always blocks
        row_count_anomaly: {window: 20}   # default: quality.row_count_anomaly
        freshness_hours: 24               # a Dagster freshness check; unset: none

A column's rules mean what they mean in a spec's target_schema (`TargetColumn`); its
type is the one the data has. Whether keys and columns exist is the catalog's to say,
so `datacrew validate` checks them (see `unknown_names`), not the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .quality import BlockableCheck, QualityDefaults, RowCountAnomalyOverrides, RowCountAnomalySettings
from .spec import SOURCE_KEY_PATTERN, TargetColumn

DEFAULT_MONITOR_CRON = "*/5 * * * *"
SCHEMA_CONFORMITY = "schema_conformity"
FIGURES = ("completeness", "consistency", "accuracy")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ColumnRules(_Strict):
    """Value rules of one column, as in a target_schema column (NULL meets them all)."""

    min: float | None = None
    max: float | None = None
    accepted_values: list[Any] | None = None
    pattern: str | None = None
    references: str | None = Field(
        default=None, description="'source/dataset.column' or 'layer/name.column' every non-null value must exist in"
    )

    _pattern = field_validator("pattern")(TargetColumn._regex_compiles.__func__)
    _references = field_validator("references")(TargetColumn._reference_shape.__func__)

    @property
    def has_value_rule(self) -> bool:
        """A rule a value can break (what accuracy measures); `references` is consistency's."""
        return any(rule is not None for rule in (self.min, self.max, self.accepted_values, self.pattern))

    @model_validator(mode="after")
    def _ordered_bounds(self) -> "ColumnRules":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    def target_column(self, name: str, type_: str) -> TargetColumn:
        return TargetColumn(name=name, type=type_, **self.model_dump())


def _distinct(value: list[str] | None) -> list[str] | None:
    if value is not None:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"names repeat: {', '.join(repeated)}")
    return value


class DatasetQuality(_Strict):
    """What one discovered dataset is held to; unset fields take the platform's defaults."""

    primary_key: list[str] = Field(default_factory=list)
    required_columns: list[str] | None = Field(default=None, min_length=1)
    columns: dict[str, ColumnRules] = Field(default_factory=dict)
    completeness: float | None = Field(default=None, ge=0, le=1)
    consistency: float | None = Field(default=None, ge=0, le=1)
    accuracy: float | None = Field(default=None, ge=0, le=1)
    blocking: list[BlockableCheck] = Field(default_factory=list)
    row_count_anomaly: RowCountAnomalyOverrides = Field(default_factory=RowCountAnomalyOverrides)
    freshness_hours: float | None = Field(default=None, gt=0)

    _names = field_validator("primary_key", "required_columns", "blocking")(_distinct)

    def named_columns(self) -> list[tuple[str, str]]:
        """(field path, column name) of every column this declaration names."""
        named = [(f"primary_key[{i}]", c) for i, c in enumerate(self.primary_key)]
        named += [(f"required_columns[{i}]", c) for i, c in enumerate(self.required_columns or [])]
        return named + [(f"columns.{c}", c) for c in self.columns]


def _dataset_key(key: str) -> str:
    if not SOURCE_KEY_PATTERN.match(key):
        raise ValueError("not a dataset key: must be 'source/dataset' in lowercase")
    return key


class DatasetsConfig(BaseModel):
    """The `datasets:` mapping: `monitor_cron` plus one `DatasetQuality` per asset key."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[Annotated[str, AfterValidator(_dataset_key)], DatasetQuality]

    monitor_cron: str = DEFAULT_MONITOR_CRON

    @field_validator("monitor_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string  # the schedule's own test

        if not is_valid_cron_string(value):
            raise ValueError("not a valid cron expression")
        return value

    @property
    def declared(self) -> dict[str, DatasetQuality]:
        return dict(self.model_extra or {})


@dataclass(frozen=True)
class DatasetSettings:
    """One dataset's checks with every default resolved."""

    thresholds: dict[str, float]
    blocking: frozenset[str]  # schema_conformity always among them
    primary_key: tuple[str, ...] = ()
    required_columns: tuple[str, ...] | None = None  # None: every column
    columns: dict[str, ColumnRules] = field(default_factory=dict)
    row_count_anomaly: RowCountAnomalySettings = RowCountAnomalySettings()
    freshness_hours: float | None = None

    def threshold(self, check: str) -> float:
        """What `check`'s figure is held to (schema conformity: every column; the anomaly: max z)."""
        if check == SCHEMA_CONFORMITY:
            return 1.0
        if check == "row_count_anomaly":
            return self.row_count_anomaly.max_z
        return self.thresholds[check]

    @property
    def referenced_keys(self) -> set[str]:
        """`source/dataset` (or `layer/name`) keys the column rules reference."""
        return {r.references.split(".", 1)[0] for r in self.columns.values() if r.references}


def dataset_settings(datasets: DatasetsConfig, quality: QualityDefaults, key: str) -> DatasetSettings:
    """`key`'s declaration over the platform defaults (an undeclared dataset gets the defaults alone)."""
    declared = datasets.declared.get(key) or DatasetQuality()
    overrides = declared.row_count_anomaly.model_dump(exclude_none=True)
    return DatasetSettings(
        thresholds={
            name: getattr(declared, name) if getattr(declared, name) is not None else getattr(quality, name)
            for name in FIGURES
        },
        blocking=frozenset([SCHEMA_CONFORMITY, *declared.blocking]),
        primary_key=tuple(declared.primary_key),
        required_columns=tuple(declared.required_columns) if declared.required_columns is not None else None,
        columns=dict(declared.columns),
        row_count_anomaly=quality.row_count_anomaly.model_copy(update=overrides),
        freshness_hours=declared.freshness_hours,
    )
