"""What Dagster's run queue and pools enforce, mirrored from the roster and the specs.

An agent's `capacity` is what the delegation gate's ledger lets it have launched or
running at once; the same number becomes a tag concurrency limit on `datacrew/agent`
(the tag every gate-launched run carries), so runs that reach the instance by another
way (a re-execution from the UI copies its tags) queue instead of overloading the agent.
Writers of one warehouse DuckDB file share a pool of size one: DuckDB allows one writer
per file, and a step waiting for its slot is better than one failing on the file lock.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import AgentConfig
from datacrew_resources.config.spec import TransformationSpec

AGENT_TAG = "datacrew/agent"
WAREHOUSE_POOL_PREFIX = "datacrew/warehouse:"
WAREHOUSE_POOL_SIZE = 1


def agent_tag_limits(agents: list[AgentConfig]) -> list[dict[str, object]]:
    """One `tag_concurrency_limits` entry per agent: at most `capacity` of its runs in progress."""
    return [{"key": AGENT_TAG, "value": agent.id, "limit": agent.capacity} for agent in agents]


def warehouse_pool(spec: TransformationSpec, outputs_dir: Path) -> str | None:
    """The pool of the warehouse file a spec writes (None for file outputs): named by the
    file's path below the outputs directory, so two spellings of one file share a pool."""
    if spec.output.format != "warehouse":
        return None
    # Imported here: the engine (duckdb, sqlglot) is not needed to write the instance's yaml.
    from datacrew_resources.engine.outputs import resolve_location

    try:
        database = resolve_location(spec, outputs_dir.resolve()).path
    except ConfigError:
        return None  # a database outside the outputs: the run fails on it, with this error, before writing
    # Pool names may not contain whitespace; quoting keeps distinct paths distinct.
    return WAREHOUSE_POOL_PREFIX + quote(database.relative_to(outputs_dir.resolve()).as_posix(), safe="/")
