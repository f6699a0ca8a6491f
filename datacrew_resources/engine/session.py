"""One sandbox for every engine step of one crew run, and a way to interrupt it.

A crew run calls the engine several times: inspect each source, compile, execute,
validate, then the asset reads a preview. Each `Engine` method opens a sandbox of its
own, 16-20 ms of DuckDB start-up each. A session opens one, on the first step that
needs it, and keeps it until the run ends:

- It is the sandbox a write gets (`open_sandbox`): the spec's sources readable, the
  output's temp names (`Staging`, fixed when the session first opens) the only writable
  paths, external access off, configuration locked, SQL guarded before it runs. It is
  never allowed the output itself, so even SQL past the guard can only write the temps
  the engine checks before renaming them. Whatever the agent calls, it gets no more
  than that one write's sandbox would.
- Each source's view is made when a step first reads it, so an unreadable source fails
  the steps that read it, as it does with one sandbox per step. A warehouse source is
  attached only while a step reads it, so a long agent loop holds no lock on the
  database file between steps.
- Compiling needs no connection (`Binder` binds on empty tables in a shared database);
  validation reuses execute's report when the output is the file that report checked
  (`Engine.validate_output(execution=)`); the preview comes with execute's result
  (`ExecutionResult.preview`).
- `interrupt(reason)`, from any thread (the run's time limit), stops the statement
  running and refuses every later step. A write interrupted before its rename publishes
  nothing: its temps are removed and the previous output stays as it was.

Steps run one at a time (a lock); `close()` ends the session.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import TransformationSpec

from . import outputs
from .compiler import CompiledPlan
from .outputs import OutputLocation, Staging
from .sandbox import attach_warehouse, detach_warehouse, make_view
from .schema_check import SchemaReport
from .sources import SourceRef

if TYPE_CHECKING:
    from . import Engine, ExecutionResult


class SessionStopped(ValueError):
    """A step was asked for after the session was interrupted or closed."""


class EngineSession:
    """The engine steps of one spec's run (`Engine.session(spec, output_path)`), in one sandbox."""

    def __init__(self, engine: Engine, spec: TransformationSpec, output_path: str | Path | None = None):
        self.engine = engine
        self.spec = spec
        self.output_path = output_path
        self._lock = threading.RLock()  # one step at a time
        self._state = threading.Lock()  # guards _con and _stopped for interrupt()
        self._stack: ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._location: OutputLocation | None = None
        self._staging: Staging | None = None
        self._location_error: ConfigError | None = None
        self._index: dict[str, int] = {}  # source key -> its position (names its warehouse alias)
        self._views: set[str] = set()
        self._stopped: str | None = None
        self.opened = 0  # sandboxes opened (at most one while the session works)

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the steps -----------------------------------------------------------------------

    def inspect(self, key: str) -> dict[str, Any]:
        """`Engine.inspect` in the session's sandbox."""
        from . import describe_source

        ref = self.engine._source(key, field="key")
        with self.connection([ref]) as con:
            return describe_source(con, ref)

    def compile(self, spec: TransformationSpec | None = None, *, file: str = "") -> CompiledPlan:
        """`Engine.compile` (the session's spec by default, or a variant of it, such as the
        spec with the agent's SQL as its rule); columns the catalog lacks are learnt here."""
        spec = spec or self.spec
        refs = [self.engine._source(k, field=f"sources[{i}]") for i, k in enumerate(spec.sources)]
        missing = [ref for ref in refs if not ref.columns]
        if missing:
            with self.connection(missing) as con:
                self.engine.learn_columns(con, missing)
        return self.engine.compile(spec, file=file)

    def execute(self, plan: CompiledPlan) -> ExecutionResult:
        """`Engine.execute` of the session's spec into its output, in the session's sandbox."""
        with self._lock:
            self._open()
            if self._location_error is not None:
                raise self._location_error
            assert self._location is not None and self._staging is not None
            return self.engine.write(self.spec, plan, self._location, self._staging, self.connection,
                                     stopped=self._reason)

    def validate_output(self, execution: ExecutionResult | None = None) -> SchemaReport:
        """`Engine.validate_output`: `execution`'s report while the output is the file it
        checked, else the output read in a read-only sandbox of its own (the session's may
        not read the output)."""
        with self._lock:
            self._check()
        return self.engine.validate_output(self.spec, self.output_path, execution=execution)

    # -- stopping ------------------------------------------------------------------------

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the statement running now, if any, and refuse every later step (any thread)."""
        with self._state:
            self._stopped = self._stopped or reason
            con = self._con
        if con is not None:
            try:
                con.interrupt()
            except duckdb.Error:
                pass  # closed meanwhile: nothing is running

    def close(self) -> None:
        """Close the sandbox (its private spill directory goes with it); later steps are refused."""
        with self._state:
            self._stopped = self._stopped or "the run is over"
        with self._lock:
            with self._state:
                stack, self._stack, self._con = self._stack, None, None
            if stack is not None:
                stack.close()

    # -- the sandbox ---------------------------------------------------------------------

    def _reason(self) -> str | None:
        with self._state:
            return self._stopped

    def _check(self) -> None:
        reason = self._reason()
        if reason is not None:
            raise SessionStopped(f"{self.spec.name}: engine stopped: {reason}")

    def _open(self) -> duckdb.DuckDBPyConnection:
        """The session's sandbox, opened on first use (under `_lock`)."""
        self._check()
        if self._con is not None:
            return self._con
        files: list[Path] = []
        dirs: list[Path] = []
        try:
            location = self.engine.output_location(self.spec, self.output_path)
        except ConfigError as e:  # a bad output path fails execute, as it does without a session
            self._location_error = e
        else:
            self._location, self._staging = location, Staging.fresh(location)
            files, dirs = outputs.sandbox_access(location, self._staging)
        # Every source of the spec the engine knows (an unknown one fails where it is used).
        known = self.engine.sources
        refs = [known[k] for k in dict.fromkeys(self.spec.sources) if k in known]
        self._index = {ref.key: index for index, ref in enumerate(refs)}
        stack = ExitStack()
        con = stack.enter_context(self.engine.sandbox(refs, *dirs, paths=files, create_views=False,
                                                      metadata_cache=True))
        self.opened += 1
        with self._state:
            self._stack, self._con = stack, con
            stopped = self._stopped
        if stopped is not None:  # interrupted while it opened
            self.close()
            self._check()
        return con

    @contextmanager
    def connection(self, refs: list[SourceRef]) -> Iterator[duckdb.DuckDBPyConnection]:
        """The sandbox, with views over `refs` and their warehouses attached for the block."""
        with self._lock:
            con = self._open()
            attached: list[int] = []
            try:
                for ref in refs:
                    index = self._index.get(ref.key)
                    if index is None:
                        raise ConfigError(f"not a source of {self.spec.name}", field="source", value=ref.key)
                    if ref.kind == "duckdb_table":
                        try:
                            attach_warehouse(con, ref, index)
                        except duckdb.Error as e:
                            raise ConfigError(f"cannot be read: {first_line(e)}", field=ref.key,
                                              value=ref.location) from None
                        attached.append(index)
                    if ref.key not in self._views:
                        make_view(con, ref, index, attach=False)
                        self._views.add(ref.key)
                    self._check()
                yield con
            finally:
                for index in attached:
                    try:
                        detach_warehouse(con, index)
                    except duckdb.Error:
                        pass  # an interrupted connection may refuse; closing it detaches
