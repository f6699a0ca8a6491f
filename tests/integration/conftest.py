"""End-to-end fixtures: the demo run once per session, and the raw package files in pandas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .helpers import RawData, package_data_dir, run_cli_json


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`datacrew demo --home <tmp> --json`, run once per session: (home, parsed JSON)."""
    home = tmp_path_factory.mktemp("demo_home")
    return home, run_cli_json(home, "demo")


@pytest.fixture(scope="session")
def raw() -> RawData:
    return RawData(package_data_dir())
