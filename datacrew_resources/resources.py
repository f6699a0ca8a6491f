"""Dagster resources: the typed doors through which assets reach the platform."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from sqlglot import exp

from .config import Home, PlatformConfig, TransformationSpec
from .config.errors import one_line
from .crew import CrewAIRunner, CrewRunFailed, CrewRunner
from .engine import WAREHOUSE_LOCK_TIMEOUT, Engine, outputs
from .environment import prepare_environment
from .partitions import PARTITION_FILES, partition_glob
from .quality import parquet_table
from .quality.conformity import OutputPart
from .quality.metrics import referenced_keys
from .quality.relations import open_relations, resolve_refs
from .transformation import TransformationOutcome, run_transformation


@dataclass(frozen=True)
class OpenedOutput:
    """A transformation's output: a connection, every row as one relation, the parts whose
    structure is checked apart (one per Dagster partition file), and what it references."""

    connection: duckdb.DuckDBPyConnection
    table: exp.Expression
    parts: list[OutputPart]
    references: dict[str, exp.Expression]  # referenced key -> FROM-able relation


class PlatformResource(dg.ConfigurableResource):
    """The platform home: configuration, paths and read-only DuckDB connections."""

    home_dir: str

    def home(self) -> Home:
        return Home.resolve(self.home_dir)

    def config(self) -> PlatformConfig:
        return self.home().load_config()

    @contextmanager
    def duckdb_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory connection for reading outputs, bounded like the engine's."""
        home = self.home()
        engine = self.config().engine
        home.tmp_dir.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": engine.memory_limit,
                "threads": engine.threads,
                "temp_directory": str(home.tmp_dir),
            },
        )
        try:
            yield connection
        finally:
            connection.close()


    @contextmanager
    def transformation_output(self, spec: TransformationSpec) -> Iterator[OpenedOutput | None]:
        """The spec's output (every partition) and the relations its columns reference, open
        in one plain connection (the references may live anywhere the catalog knows); None
        if the output is not yet written."""
        home, config = self.home(), self.config()
        files, location = [], None
        if spec.partitions:
            files = sorted(Path(partition_glob(home, spec)).parent.glob(PARTITION_FILES))
        else:
            engine = Engine({}, output_dir=home.outputs_dir, temp_dir=home.tmp_dir, config=config.engine)
            location = engine.output_location(spec)
        if not (files or (location is not None and outputs.exists(location))):
            yield None
            return
        refs = resolve_refs(home, home.load_specs(config), referenced_keys(spec.target_schema))
        with self.duckdb_connection() as connection, open_relations(connection, refs.values()) as references:
            if spec.partitions:
                parts = [OutputPart(str(f), parquet_table(f)) for f in files]
                yield OpenedOutput(connection, parquet_table(partition_glob(home, spec)), parts, references)
                return
            with outputs.reading(connection, location, spec, lock_timeout=WAREHOUSE_LOCK_TIMEOUT) as table:
                part = OutputPart(location.uri, table, outputs.header_names(connection, location))
                yield OpenedOutput(connection, table, [part], references)


class CrewResource(dg.ConfigurableResource):
    """Runs a transformation spec through its CrewAI crew (the LLM comes from datacrew.yaml)."""

    home_dir: str

    def build_runner(self, home: Home) -> CrewRunner:
        """The crew implementation; a subclass may return any other `CrewRunner`."""
        return CrewAIRunner(home.load_config().llm, storage_dir=home.state_dir / "crewai")

    def run_transformation(
        self,
        name: str,
        *,
        log: logging.Logger | None = None,
        partition_key: str | None = None,
        window: tuple[datetime, datetime] | None = None,
        run_id: str = "local",
        request_id: str | None = None,
        reporter: Callable[[str, str | None, float | None], dict[str, Any]] | None = None,
    ) -> TransformationOutcome:
        """Plan, execute and validate `name` (or one partition), as the delegated agent when
        `request_id` is given; failures become `dg.Failure`. `reporter` (from the Dagster
        side, over the run's instance) answers the crew's data_pipeline_orchestrator tool."""
        home = Home.resolve(self.home_dir)
        prepare_environment(home)
        try:
            outcome = run_transformation(
                home, name, self.build_runner(home), partition_key=partition_key, window=window, run_id=run_id,
                request_id=request_id, reporter=reporter,
            )
        except CrewRunFailed as e:
            raise dg.Failure(
                description=str(e),
                metadata={
                    "datacrew/tool_calls": dg.JsonMetadataValue([c.model_dump() for c in e.trace]),
                    "datacrew/token_usage": dg.JsonMetadataValue(e.token_usage.model_dump()),
                },
            ) from e
        except ValueError as e:
            raise dg.Failure(description=one_line(str(e))) from e
        if log:
            log.info(
                "%s: %d rows by %s in %.2fs (engine %.2fs)",
                name, outcome.record_count, outcome.agent_id, outcome.crew_seconds + outcome.engine_seconds, outcome.engine_seconds,
            )
        return outcome
