"""Importing the crew package, and building a runner, must not import crewai (~5 s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_crew_package_does_not_import_crewai(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import datacrew_resources.crew
        from datacrew_resources.config.platform import LLMConfig
        from datacrew_resources.crew import CrewAIRunner

        CrewAIRunner(LLMConfig(), storage_dir={str(tmp_path)!r})
        loaded = sorted(m for m in sys.modules if m == "crewai" or m.startswith("crewai."))
        print(",".join(loaded))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""
