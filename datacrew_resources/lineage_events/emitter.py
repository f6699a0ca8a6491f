"""One materialization's OpenLineage run: START when it begins, then COMPLETE or FAIL.

Emitting never fails a materialization: the first problem logs one warning and the
run's remaining events go where they still can (events an HTTP endpoint refused or
could not take are appended to the JSONL file instead, so none is lost)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from datacrew_resources.config import Home, TransformationSpec
from datacrew_resources.config.errors import first_line

from .datasets import input_refs, output_ref
from .transports import DeliveryError, FileTransport, HttpTransport

if TYPE_CHECKING:
    from datacrew_resources.transformation import TransformationOutcome

# Fixed, so the same Dagster run and asset always map to the same OpenLineage run id.
RUN_ID_NAMESPACE = uuid.UUID("201993fc-589c-4b7a-ba08-ab1166e3410d")


def lineage_run_id(dagster_run_id: str, asset_key: str) -> str:
    """The OpenLineage run id (a UUID) of one asset's materialization in one Dagster run."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{dagster_run_id}/{asset_key}"))


class MaterializationLineage:
    """Emits the run events of one transformation materialization, as configured in `openlineage:`."""

    def __init__(
        self, home: Home, spec: TransformationSpec, *, dagster_run_id: str, dagster_job: str, log: logging.Logger
    ) -> None:
        self.home, self.spec, self.log = home, spec, log
        self._transport: FileTransport | HttpTransport | None = None
        try:
            config = home.load_config()
        except ValueError as e:  # the crew run reports a bad config itself and fails
            log.warning(f"OpenLineage: no events for {spec.key_string}: {first_line(e)}")
            return
        settings = config.openlineage
        if settings.transport == "none":
            return
        self._file = FileTransport(home.root / settings.file)
        self._transport = self._file
        if settings.transport == "http":
            self._transport = HttpTransport(settings.url, settings.timeout_seconds, settings.api_key_env)
        self._inputs = input_refs(home, config, spec)
        self._who: dict[str, str] = {
            "namespace": settings.namespace,
            "job_name": ".".join(spec.asset_key),
            "run_id": lineage_run_id(dagster_run_id, spec.key_string),
            "dagster_run_id": dagster_run_id,
            "dagster_job": dagster_job,
        }

    @classmethod
    def start(
        cls, home: Home, spec: TransformationSpec, *, dagster_run_id: str, dagster_job: str, log: logging.Logger
    ) -> MaterializationLineage:
        """Emit START (the job, its inputs and the output it will write) and return the run."""
        lineage = cls(home, spec, dagster_run_id=dagster_run_id, dagster_job=dagster_job, log=log)
        lineage._emit("START", lambda events, who: events.start_event(who, lineage._inputs, lineage._output()))
        return lineage

    def complete(self, outcome: TransformationOutcome) -> None:
        """Emit COMPLETE with the output's schema, column lineage and row count, and the SQL."""
        self._emit("COMPLETE", lambda events, who: events.complete_event(
            who, self._inputs, self._output(outcome.output_uri), outcome))

    def fail(self, error: BaseException) -> None:
        """Emit FAIL with the error's message; the caller re-raises it."""
        self._emit("FAIL", lambda events, who: events.fail_event(who, self._inputs, self._output(), error))

    def _output(self, output_uri: str | None = None) -> Any:
        return output_ref(self.home, self.spec, output_uri)

    def _emit(self, state: str, build: Callable[[Any, Any], Any]) -> None:
        if self._transport is None:
            return
        try:
            from . import events  # openlineage-python: only once a materialization emits

            line = events.to_json(build(events, events.RunIdentity(**self._who)))
        except Exception as e:  # a facet the client refuses must not fail the materialization
            self._give_up(f"cannot build the {state} event: {type(e).__name__}: {first_line(e)}")
            return
        try:
            self._transport.send(line)
        except DeliveryError as e:
            if self._transport is self._file:
                self._give_up(f"{e}; the {state} event is lost")
                return
            self._transport = self._file  # the endpoint failed once: keep this run's events locally
            try:
                self._file.send(line)
            except DeliveryError as kept:
                self._give_up(f"cannot post the {state} event ({e}), nor keep it ({kept})")
                return
            self.log.warning(
                f"OpenLineage: cannot post the {state} event of {self.spec.key_string} ({e}); "
                f"this run's events are kept in {self._file.where}"
            )

    def _give_up(self, problem: str) -> None:
        """One warning, and no more events for this materialization."""
        self.log.warning(f"OpenLineage: {self.spec.key_string}: {problem}; no more events for this run")
        self._transport = None
