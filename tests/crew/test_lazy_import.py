"""Importing the crew package or building a runner imports no crewai (~5 s), changes no env."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_crew_package_does_not_import_crewai(tmp_path):
    code = textwrap.dedent(
        f"""
        import json, os, sys
        before = dict(os.environ)
        import datacrew_resources.crew
        import datacrew_resources.crew.offline
        from datacrew_resources.config.platform import LLMConfig
        from datacrew_resources.crew import CrewAIRunner

        CrewAIRunner(LLMConfig(), storage_dir={str(tmp_path / "crewai")!r})
        loaded = sorted(m for m in sys.modules if m == "crewai" or m.startswith("crewai."))
        changed = sorted(k for k in {{*before, *os.environ}} if before.get(k) != os.environ.get(k))
        print(json.dumps({{"crewai": loaded, "env_changed": changed}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == {"crewai": [], "env_changed": []}
    assert list(tmp_path.iterdir()) == []
