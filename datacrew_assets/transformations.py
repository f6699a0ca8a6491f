"""Transformation specs as Dagster assets, each materialized by a crew run."""


import json
import time

import dagster as dg

from datacrew_resources.config import Home, LoadedSpec, QualityDefaults
from datacrew_resources.config.quality import SlaDefaults
from datacrew_resources.config.spec import PartitionSpec
from datacrew_resources.engine.lineage import dagster_column_lineage
from datacrew_resources.lineage_events import MaterializationLineage
from datacrew_resources.quality import QualityMetrics, quality_score
from datacrew_resources.quality.sla import SlaFigures, sla_breaches, sla_figures, sla_limits
from datacrew_resources.resources import CrewResource, PlatformResource
from datacrew_resources.transformation import TransformationOutcome

from .checks import check_materialization, transformation_check_specs
from .metadata import column_schema, preview_markdown
from .pipeline_status import PipelineStatus

BASE_KINDS = {"crewai", "duckdb"}


_TIME_PARTITIONS = {
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def partitions_definition(partitions: PartitionSpec | None) -> dg.PartitionsDefinition | None:
    """Time windows or static values, so ranges can be backfilled from the UI."""
    if partitions is None:
        return None
    if partitions.type == "static":
        return dg.StaticPartitionsDefinition(partitions.values)
    end = partitions.end.isoformat() if partitions.end else None
    return _TIME_PARTITIONS[partitions.granularity](start_date=partitions.start.isoformat(), end_date=end)


def transformation_asset(
    *, loaded: LoadedSpec, quality: QualityDefaults, slas: SlaDefaults, pool: str | None = None
) -> dg.AssetsDefinition:
    """The asset for one spec; its body asks the crew to carry the spec out, then checks the
    output (see `checks`) and records its quality score and SLA figures. `pool`: the Dagster
    pool its step takes a slot of (a warehouse file's writers share one)."""
    spec = loaded.spec
    limits = sla_limits(spec, slas)

    @dg.asset(
        key=spec.asset_key,
        deps=[dg.AssetKey(source.split("/")) for source in spec.sources],
        description=spec.description or f"{spec.type.value} transformation {spec.name}",
        group_name=spec.layer,
        owners=[spec.owner],
        kinds=BASE_KINDS | {"warehouse" if spec.output.format == "warehouse" else spec.output.format},
        code_version=spec.code_version,
        tags={
            "datacrew/transformation_type": spec.type.value,
            "datacrew/classification": spec.classification,
        },
        metadata={
            "dagster/column_schema": column_schema(spec.target_schema.columns),
            "datacrew/spec_file": str(loaded.path),
            "datacrew/agent": spec.agent,
        },
        op_tags={"datacrew/agent": spec.agent},
        pool=pool,
        partitions_def=partitions_definition(spec.partitions),
        check_specs=transformation_check_specs(spec),
    )
    def _transformation(
        context: dg.AssetExecutionContext, crew: CrewResource, platform: PlatformResource
    ) -> dg.MaterializeResult:
        # Before the SLA clock: emitting lineage is not the transformation's latency.
        lineage = MaterializationLineage.start(
            Home.resolve(crew.home_dir), spec, dagster_run_id=context.run.run_id, dagster_job=context.job_name,
            log=context.log,
        )
        started = time.perf_counter()
        partition_key = context.partition_key if context.has_partition_key else None
        window = None
        if partition_key is not None and spec.partitions.type == "time":
            window = (context.partition_time_window.start, context.partition_time_window.end)
        try:
            outcome = crew.run_transformation(
                spec.name, log=context.log, partition_key=partition_key, window=window, run_id=context.run.run_id,
                request_id=context.run.tags.get("datacrew/request"),
                # The pipeline tool reads the instance this run writes to, not DagsterInstance.get().
                reporter=PipelineStatus(Home.resolve(crew.home_dir), context.instance).report,
            )
        except Exception as e:
            lineage.fail(e)
            raise
        checked = check_materialization(
            context, platform, spec=spec, defaults=quality, rows=outcome.record_count, partition_key=partition_key
        )
        figures = sla_figures(
            output_rows=outcome.record_count,
            quarantined_rows=outcome.quarantine["rows"] if outcome.quarantine else 0,
            seconds=time.perf_counter() - started,
        )
        breaches = sla_breaches(figures, limits)
        for breach in breaches:
            context.log.warning(f"SLA breach: {breach['metric']} {breach['value']:g} against limit {breach['limit']:g}")
        lineage.complete(outcome)
        return dg.MaterializeResult(
            check_results=checked.results,
            metadata={
                "dagster/row_count": outcome.record_count,
                "dagster/uri": outcome.output_uri,
                "dagster/column_schema": column_schema(outcome.columns),
                "datacrew/sql": dg.MarkdownMetadataValue(f"```sql\n{outcome.sql}\n```"),
                "datacrew/agent": outcome.agent_id,
                **_delegation(context.run.tags),
                "datacrew/crew_seconds": round(outcome.crew_seconds, 4),
                "datacrew/tool_seconds": round(outcome.tool_seconds, 4),
                "datacrew/engine_seconds": round(outcome.engine_seconds, 4),
                "datacrew/tool_calls": dg.JsonMetadataValue(outcome.tool_calls),
                "datacrew/token_usage": dg.JsonMetadataValue(outcome.token_usage),
                "datacrew/execution_context": dg.JsonMetadataValue(outcome.context),
                **_quarantine(outcome),
                "datacrew/crew_result": dg.JsonMetadataValue(json.loads(json.dumps(outcome.crew_result, default=str))),
                "preview": preview_markdown([c.name for c in outcome.columns], outcome.preview_rows),
                **_column_lineage(outcome),
                **_quality(checked.metrics),
                **_sla(figures, breaches),
            },
        )

    return _transformation


def _quality(metrics: QualityMetrics) -> dict[str, dg.FloatMetadataValue]:
    """The composite score and its three figures, as floats so the UI plots them over time."""
    return {
        "datacrew/quality_score": dg.FloatMetadataValue(quality_score(metrics)),
        "datacrew/completeness": dg.FloatMetadataValue(round(metrics.completeness, 6)),
        "datacrew/consistency": dg.FloatMetadataValue(round(metrics.consistency, 6)),
        "datacrew/accuracy": dg.FloatMetadataValue(round(metrics.accuracy, 6)),
    }


def _sla(figures: SlaFigures, breaches: list[dict[str, object]]) -> dict[str, dg.MetadataValue]:
    return {
        "datacrew/latency_seconds": dg.FloatMetadataValue(figures.latency_seconds),
        "datacrew/throughput_rows_per_second": dg.FloatMetadataValue(figures.throughput_rows_per_second),
        "datacrew/error_rate": dg.FloatMetadataValue(figures.error_rate),
        "datacrew/sla_breaches": dg.JsonMetadataValue(breaches),
    }


def _delegation(tags: dict[str, str]) -> dict[str, str]:
    """Who delegated this run, under which rule, when the delegation gate launched it."""
    names = ("request", "requester", "rule", "task_type")
    return {f"datacrew/{n}": tags[f"datacrew/{n}"] for n in names if f"datacrew/{n}" in tags}


def _quarantine(outcome: TransformationOutcome) -> dict[str, object]:
    """Rows set aside under `on_violation: quarantine`, and where they went."""
    if outcome.quarantine is None:
        return {}
    return {
        "datacrew/quarantined_rows": outcome.quarantine["rows"],
        "datacrew/quarantine_uri": outcome.quarantine["uri"],
        "datacrew/quarantine_by_kind": dg.JsonMetadataValue(outcome.quarantine["by_kind"]),
    }


def _column_lineage(outcome: TransformationOutcome) -> dict[str, dg.TableColumnLineage]:
    """`dagster/column_lineage` of the SQL the run executed, when it could be traced."""
    if outcome.column_lineage is None:
        return {}
    return {"dagster/column_lineage": dagster_column_lineage(outcome.column_lineage)}
