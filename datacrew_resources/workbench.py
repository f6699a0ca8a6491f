"""The crew's workbench over the real engine, bound to one spec."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from .catalog.search import search
from .config import Home, TransformationSpec
from .config.errors import ConfigError
from .config.spec import SqlRule
from .engine import CompiledPlan, Engine, ExecutionResult
from .engine.session import EngineSession
from .engine.sql_guard import check_query


class EngineWorkbench:
    """Implements `crew.TransformationWorkbench`: each tool call is one engine step.

    A spec with rules is compiled by the engine (`compile_plan`); an intent-only
    spec gets its SQL from the agent (`compile_sql`), checked and compiled as the
    spec's one `sql` rule. `plan` is what `execute_plan` runs.

    `delegator`, when given, queues a delegation request as the run's agent
    (`delegator(target=, task_type=, priority=, facts=)` returning the stored
    request); without one, `request_delegation` is refused. `reporter`, when given, answers
    `pipeline_report` (`reporter(action, key, hours)` returning the report); the Dagster side
    injects it, since reading the instance and the asset graph is its business.
    `catalog`, when given, is the home whose catalog `discover_datasets` searches
    (`catalog_discovery`); without one the workbench has no `discover_datasets`, so the
    crew is not offered the data_discovery tool.

    `session` (`engine.session(spec, output_path)`, which the caller closes) runs every
    step in one sandbox and makes the run interruptible (`interrupt`, which the crew
    runner calls at its time limit); without one each step opens its own sandbox.
    Validation reuses execute's report while the output is the file it checked.
    """

    def __init__(self, engine: Engine, spec: TransformationSpec, *, output_path: Path | None, spec_file: str,
                 delegator: Callable[..., Any] | None = None, session: EngineSession | None = None,
                 reporter: Callable[[str, str | None, float | None], dict[str, Any]] | None = None,
                 catalog: Home | None = None):
        self.engine = engine
        self.spec = spec
        self.spec_name = spec.name
        self.source_keys = list(spec.sources)
        self.output_path = output_path
        self.spec_file = spec_file
        self.plan: CompiledPlan | None = None
        self.execution: ExecutionResult | None = None
        self.delegator = delegator
        self.reporter = reporter
        if session is not None and (session.spec != spec or session.output_path != output_path):
            raise ValueError("the session is for another spec or output")
        self.session = session
        if catalog is not None:
            self.discover_datasets = partial(catalog_discovery, catalog)

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the engine step running now (another thread may call this) and every later one."""
        if self.session is not None:
            self.session.interrupt(reason)

    def inspect_dataset(self, key: str) -> dict[str, Any]:
        if key not in self.source_keys:
            raise ConfigError(f"not a source of {self.spec_name} (sources: {', '.join(self.source_keys)})", field="key", value=key)
        if self.session is not None:
            return self.session.inspect(key)
        return self.engine.inspect(key)

    def _compile(self, spec: TransformationSpec) -> CompiledPlan:
        if self.session is not None:
            return self.session.compile(spec, file=self.spec_file)
        return self.engine.compile(spec, file=self.spec_file)

    @property
    def intent_only(self) -> bool:
        return bool(self.spec.intent.strip()) and not self.spec.rules

    def compile_plan(self) -> dict[str, Any]:
        if self.intent_only:
            raise ConfigError("the spec has no rules to compile; write its SQL and propose it",
                              field="rules", value=self.spec_name)
        self.plan = self._compile(self.spec)
        return self.plan.to_dict()

    def compile_sql(self, sql: str) -> dict[str, Any]:
        if not self.intent_only:
            # A spec with rules is carried out as written: SQL may not replace them.
            raise ConfigError("this spec has rules; SQL proposals are for intent-only specs",
                              field="sql", value=self.spec_name)
        # The guard first: it names the offence (a file read, a second statement)
        # before the compiler tries to bind anything.
        check_query(sql, tables=self.source_keys, field="sql")
        spec = self.spec.model_copy(update={"rules": [SqlRule(sql=sql)]})
        self.plan = self._compile(spec)
        return self.plan.to_dict()

    def execute_plan(self) -> dict[str, Any]:
        if self.plan is None and self.intent_only:
            raise ConfigError("no SQL has been accepted yet; propose it first",
                              field="plan", value=self.spec_name)
        if self.plan is None:
            self.compile_plan()
        if self.session is not None:
            self.execution = self.session.execute(self.plan)
        else:
            self.execution = self.engine.execute(self.spec, self.plan, self.output_path)
        return {
            "output_uri": self.execution.output_uri,
            "record_count": self.execution.record_count,
            "quarantined_rows": self.execution.quarantined_rows,
            "engine_seconds": self.execution.seconds,
        }

    def validate_output(self) -> dict[str, Any]:
        if self.session is not None:
            report = self.session.validate_output(self.execution)
        else:
            report = self.engine.validate_output(self.spec, self.output_path, execution=self.execution)
        failing = report.failing(self.spec.target_schema.on_violation)
        return {
            "ok": not failing,
            "problems": [v.summary() for v in failing],
            # Under on_violation=warn these stay in the output for the quality checks to measure.
            "warnings": [v.summary() for v in report.violations if v not in failing],
            "row_count": report.row_count,
        }

    def request_delegation(self, target: str, task_type: str, priority: str = "medium",
                           facts: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.delegator is None:
            raise ValueError("delegation is not available in this run")
        request = self.delegator(target=target, task_type=task_type, priority=priority, facts=facts)
        return {"request_id": request.id, "state": request.state, "target": request.target,
                "task_type": request.task_type}

    def pipeline_report(self, action: str, key: str | None = None, hours: float | None = None) -> dict[str, Any]:
        if self.reporter is None:
            raise ValueError("pipeline records are not available in this run")
        return self.reporter(action, key, hours)

    def preview(self, limit: int) -> dict[str, Any]:
        """The output's columns and first rows: from the write when there was one, else read."""
        if self.execution is not None and self.execution.preview is not None:
            return {"columns": self.execution.preview["columns"], "rows": self.execution.preview["rows"][:limit]}
        return self.engine.preview_output(self.spec, self.output_path, limit=limit)


def catalog_discovery(
    home: Home,
    query: str,
    max_results: int = 10,
    source_types: Sequence[str] = (),
    quality_threshold: float = 0.0,
    data_domains: Sequence[str] = (),
    freshness_requirement: str | None = None,
) -> dict[str, Any]:
    """The ranked search of `home`'s catalog (`datacrew search`), as the data_discovery tool answers it.

    Searches what discovery recorded; it scans no source. Bad filters raise the search's
    one-line `ConfigError` naming the argument.
    """
    response = search(
        home, query, max_results=max_results, source_types=source_types, quality_threshold=quality_threshold,
        data_domains=data_domains, freshness_requirement=freshness_requirement,
    )
    return {
        "query": response.query,
        "filters": response.filters.to_json(),
        "total_datasets_found": response.total_datasets_found,
        "datasets_returned": response.datasets_returned,
        "datasets": [
            {
                "asset_key": hit.record.key_string,
                "source_type": hit.record.source_type.value,
                "domain": hit.domain,
                "description": hit.record.description,
                "record_count": hit.record.record_count,
                "columns": [{"name": c.name, "type": c.type} for c in hit.record.columns],
                "quality_score": hit.record.quality_score,
                "last_updated": hit.record.last_updated.isoformat(),
                "composite_score": hit.score,
                "relevance_score": hit.relevance,
                "freshness_score": hit.freshness,
            }
            for hit in response.hits
        ],
        "aggregation_metadata": response.aggregation_metadata(),
    }
