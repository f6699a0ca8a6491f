"""Dagster resources: the typed doors through which assets reach the platform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from .config import Home, PlatformConfig


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
