"""OpenLineage RunEvents of one materialization, built with openlineage-python's own models.

Facets: `schema`, `columnLineage`, `dataSource` and `outputStatistics` on the output,
`dataSource` on the inputs, `sql` and `jobType` on the job, `parent` (the Dagster run),
`processing_engine` and, on FAIL, `errorMessage` on the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Any
from uuid import UUID

from openlineage.client import __version__ as OPENLINEAGE_VERSION
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.serde import Serde

from datacrew_resources.engine.lineage import AGGREGATED, CAST, DERIVED, IDENTITY, ColumnDep
from datacrew_resources.transformation import TransformationOutcome

from .datasets import DatasetRef

DATACREW_VERSION = version("datacrew")
PRODUCER = f"urn:datacrew:{DATACREW_VERSION}"
SQL_DIALECT = "duckdb"

# engine.lineage's kinds as OpenLineage transformation (type, subtype, description).
_TRANSFORMATIONS = {
    IDENTITY: ("DIRECT", "IDENTITY", None),
    CAST: ("DIRECT", "TRANSFORMATION", "cast"),
    DERIVED: ("DIRECT", "TRANSFORMATION", None),
    AGGREGATED: ("DIRECT", "AGGREGATION", None),
}


@dataclass(frozen=True)
class RunIdentity:
    """Who runs: the OpenLineage job and run, and the Dagster run that is their parent."""

    namespace: str
    job_name: str
    run_id: str
    dagster_run_id: str
    dagster_job: str


def start_event(who: RunIdentity, inputs: list[DatasetRef], output: DatasetRef) -> RunEvent:
    return _event(RunState.START, who, inputs, [_output(output)])


def complete_event(
    who: RunIdentity, inputs: list[DatasetRef], output: DatasetRef, outcome: TransformationOutcome
) -> RunEvent:
    """COMPLETE with what the run wrote: the output's schema and column lineage, and its SQL."""
    by_key = {ref.name: ref for ref in inputs}
    facets = {
        "schema": _facet(schema_dataset.SchemaDatasetFacet, fields=[
            schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, ordinal_position=i)
            for i, c in enumerate(outcome.columns, start=1)
        ]),
    }
    if outcome.column_lineage is not None:
        facets["columnLineage"] = _facet(column_lineage_dataset.ColumnLineageDatasetFacet, fields={
            column: column_lineage_dataset.Fields(inputFields=[_input_field(d, by_key) for d in deps])
            for column, deps in outcome.column_lineage.items()
        })
    statistics = _facet(
        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet, rowCount=outcome.record_count
    )
    sql = _facet(sql_job.SQLJobFacet, query=outcome.sql, dialect=SQL_DIALECT)
    return _event(
        RunState.COMPLETE, who, inputs, [_output(output, facets, {"outputStatistics": statistics})], {"sql": sql}
    )


def fail_event(who: RunIdentity, inputs: list[DatasetRef], output: DatasetRef, error: BaseException) -> RunEvent:
    message = _facet(
        error_message_run.ErrorMessageRunFacet, message=f"{type(error).__name__}: {error}", programmingLanguage="python"
    )
    return _event(RunState.FAIL, who, inputs, [_output(output)], run_facets={"errorMessage": message})


def to_json(event: RunEvent) -> str:
    """One JSON line, as the OpenLineage client itself serializes events."""
    return Serde.to_json(event)


def _event(
    state: RunState,
    who: RunIdentity,
    inputs: list[DatasetRef],
    outputs: list[OutputDataset],
    job_facets: dict | None = None,
    run_facets: dict | None = None,
) -> RunEvent:
    job_type = _facet(job_type_job.JobTypeJobFacet, processingType="BATCH", integration="DATACREW", jobType="ASSET")
    return RunEvent(
        eventType=state,
        eventTime=datetime.now(timezone.utc).isoformat(),
        producer=PRODUCER,
        run=Run(runId=who.run_id, facets={**_run_facets(who), **(run_facets or {})}),
        job=Job(namespace=who.namespace, name=who.job_name, facets={"jobType": job_type, **(job_facets or {})}),
        inputs=[InputDataset(namespace=r.namespace, name=r.name, facets=_source(r)) for r in inputs],
        outputs=outputs,
    )


def _run_facets(who: RunIdentity) -> dict:
    facets: dict = {
        "processing_engine": _facet(
            processing_engine_run.ProcessingEngineRunFacet,
            version=DATACREW_VERSION, name="datacrew", openlineageAdapterVersion=OPENLINEAGE_VERSION,
        )
    }
    if _is_uuid(who.dagster_run_id):  # the parent facet needs a UUID; Dagster's run ids are
        facets["parent"] = _facet(
            parent_run.ParentRunFacet, run=parent_run.Run(runId=who.dagster_run_id),
            job=parent_run.Job(namespace=who.namespace, name=who.dagster_job),
        )
    return facets


def _output(ref: DatasetRef, facets: dict | None = None, output_facets: dict | None = None) -> OutputDataset:
    return OutputDataset(
        namespace=ref.namespace, name=ref.name, facets={**_source(ref), **(facets or {})},
        outputFacets=output_facets or {},
    )


def _source(ref: DatasetRef) -> dict:
    return {"dataSource": _facet(datasource_dataset.DatasourceDatasetFacet, name=ref.source_name, uri=ref.source_uri)}


def _input_field(dep: ColumnDep, by_key: dict[str, DatasetRef]) -> column_lineage_dataset.InputField:
    ref = by_key[dep.source]
    kind, subtype, description = _TRANSFORMATIONS[dep.kind]
    return column_lineage_dataset.InputField(
        namespace=ref.namespace, name=ref.name, field=dep.column,
        transformations=[column_lineage_dataset.Transformation(type=kind, subtype=subtype, description=description)],
    )


def _facet(kind: type, **fields: Any) -> Any:
    """A facet signed by datacrew (the client would sign it as itself)."""
    return kind(**fields, producer=PRODUCER)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True
