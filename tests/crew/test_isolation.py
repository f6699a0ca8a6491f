"""A fresh process (import crewai included) runs a crew offline and writes only where told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Written while `import crewai` runs (its trace listener builds a token store and a
# settings object); paths are fixed to the user's home in crewai_core 1.15.
CREWAI_IMPORT_RESIDUE = {
    ".config",
    ".config/crewai",
    ".local",
    ".local/share",
    ".local/share/crewai",
    ".local/share/crewai/credentials",
    ".local/share/crewai/credentials/secret.key",
}

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args))
        raise OSError("network closed")

    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    from datacrew_resources.config.platform import LLMConfig
    from datacrew_resources.crew import CrewAIRunner
    from tests.crew.fakes import SPEC_SUMMARY, FakeWorkbench

    result = CrewAIRunner(LLMConfig(), storage_dir=sys.argv[1]).run(
        FakeWorkbench(), spec_summary=SPEC_SUMMARY, agent_id="etl-architect-1"
    )
    print(json.dumps({"valid": result.validation.valid, "attempts": attempts}))
    """
)


def _tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_fresh_process_runs_offline_and_writes_only_its_storage_dir(tmp_path):
    home, work, temp, storage = (tmp_path / name for name in ("home", "work", "temp", "storage"))
    for directory in (home, work, temp):
        directory.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CREWAI_", "OTEL_", "XDG_")) and key != "DATACREW_LLM"
    }
    env.update(HOME=str(home), TMPDIR=str(temp), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(storage)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"valid": True, "attempts": []}
    assert _tree(work) == set()
    assert _tree(temp) == set()
    assert _tree(home) <= CREWAI_IMPORT_RESIDUE
    assert {"latest_kickoff_task_outputs.db", ".crewai_user.json"} <= _tree(storage)
