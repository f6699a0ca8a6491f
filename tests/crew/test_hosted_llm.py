"""The hosted-LLM path against a local OpenAI-compatible endpoint the test starts and scripts.

`openai/<name>` with a `base_url` makes CrewAI 1.15 use its native OpenAI provider
(the `openai` SDK, Chat Completions, native function calling), not litellm. The
scripted server answers with `tool_calls` and `usage`; CrewAI runs the tools and
sends each result back as a `role: tool` message, which the server records.

The socket layer allows loopback only: anything else is refused and recorded.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from datacrew_resources.config.platform import LLMConfig
from datacrew_resources.config.spec import TransformationSpec
from datacrew_resources.crew import CrewAIRunner, CrewRunFailed, CrewRunResult
from datacrew_resources.engine import Engine, SourceRef
from datacrew_resources.workbench import EngineWorkbench
from tests.fakes.chat_server import ScriptedChatServer, answer, tool_call
from tests.fakes.scripted_model import (
    ScriptedModel,
    execution_answer,
    plan_answer,
    tool_results,
    turn_index,
    validation_answer,
)

from .fakes import SPEC_SUMMARY, FakeWorkbench

KEY_ENV = "DATACREW_TEST_LLM_KEY"
DUMMY_KEY = "sk-local-dummy"
MODEL = "openai/scripted-model"

GOOD_SQL = (
    'SELECT carrier, count(*) AS flights, avg(dep_delay) AS avg_dep_delay FROM "lake/flights" '
    "WHERE dep_delay IS NOT NULL GROUP BY carrier"
)
# (carrier, flights, avg_dep_delay) from tests/engine/helpers.FLIGHTS without the NULL delay.
EXPECTED_ROWS = [("AA", 1, 10.0), ("B6", 1, 1.0), ("DL", 1, -3.0), ("UA", 2, 12.75)]
FLIGHTS = [
    (1, "AA", "JFK", 10.0),
    (2, "AA", "LGA", None),
    (3, "UA", "JFK", 5.5),
    (4, "DL", "EWR", -3.0),
    (5, "UA", "EWR", 20.0),
    (6, "B6", "JFK", 1.0),
]


# -- the network: loopback only ------------------------------------------------


def _loopback(host: Any) -> bool:
    if host in ("localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except (ValueError, AttributeError):
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Connections and name lookups outside 127.0.0.1/::1 raise and are recorded."""
    attempts: list[str] = []
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def guard(what: str, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _loopback(host):
            attempts.append(f"{what}({address!r})")
            raise OSError(f"network closed in tests except loopback ({what} {address!r})")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        guard("connect", address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        guard("connect_ex", address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard("getaddrinfo", (host,))
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    # A proxy from the environment would take even loopback requests elsewhere.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield attempts
    assert attempts == [], f"non-loopback network use: {attempts}"


def test_loopback_only_refuses_the_internet(loopback_only):
    with pytest.raises(OSError, match="network closed"):
        socket.create_connection(("api.openai.com", 443), timeout=1)
    with pytest.raises(OSError, match="network closed"):
        socket.create_connection(("10.1.2.3", 443), timeout=1)
    assert len(loopback_only) == 2
    loopback_only.clear()


# -- fixtures --------------------------------------------------------------------


@pytest.fixture
def hosted(monkeypatch: pytest.MonkeyPatch, loopback_only, tmp_path: Path):
    """`hosted(model, **limits)` -> (server, runner) for a scripted model on 127.0.0.1."""
    monkeypatch.setenv(KEY_ENV, DUMMY_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    servers: list[ScriptedChatServer] = []

    def start(respond, *, delay_seconds: float = 0.0, **llm: Any):
        server = ScriptedChatServer(respond, delay_seconds=delay_seconds).__enter__()
        servers.append(server)
        config = LLMConfig(model=MODEL, base_url=server.base_url, api_key_env=KEY_ENV, **llm)
        return server, CrewAIRunner(config, storage_dir=tmp_path / "crewai")

    yield start
    for server in servers:
        server.__exit__(None, None, None)
        assert server.unexpected == []


@pytest.fixture
def flights_engine(tmp_path: Path) -> Engine:
    """The real engine over one parquet source, `lake/flights`."""
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect() as con:
        con.execute("CREATE TABLE flights (id INTEGER, carrier VARCHAR, origin VARCHAR, dep_delay DOUBLE)")
        con.executemany("INSERT INTO flights VALUES (?, ?, ?, ?)", FLIGHTS)
        con.execute("COPY flights TO ? (FORMAT parquet)", [str(data / "flights.parquet")])
    sources = {"lake/flights": SourceRef("lake/flights", "parquet", str(data / "flights.parquet"))}
    return Engine(sources, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")


INTENT_SPEC = {
    "name": "delays_by_carrier",
    "type": "aggregation",
    "description": "Flights and mean departure delay per airline",
    "sources": ["lake/flights"],
    "intent": "For each carrier, count the flights with a known departure delay and average it.",
    "target_schema": {
        "columns": [
            {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "flights", "type": "BIGINT", "min": 0},
            {"name": "avg_dep_delay", "type": "DOUBLE"},
        ]
    },
}


@pytest.fixture
def intent_workbench(flights_engine: Engine, tmp_path: Path) -> EngineWorkbench:
    spec = TransformationSpec.model_validate(INTENT_SPEC)
    return EngineWorkbench(
        flights_engine,
        spec,
        output_path=tmp_path / "out" / "delays_by_carrier.parquet",
        spec_file="specs/delays_by_carrier.yaml",
    )


def _run(runner: CrewAIRunner, workbench: Any, summary: dict[str, Any]) -> CrewRunResult:
    return runner.run(workbench, spec_summary=summary, agent_id="etl-architect-1")


def _rows(path: Path) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet(?) ORDER BY carrier", [str(path)]).fetchall()


def _assert_usage(usage: Any, server: ScriptedChatServer) -> None:
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        server.usage_sent["prompt_tokens"],
        server.usage_sent["completion_tokens"],
        server.usage_sent["total_tokens"],
    )
    assert usage.successful_requests == server.responses_sent


EXECUTE = [tool_call("execute_plan"), execution_answer]
VALIDATE = [tool_call("validate_output"), validation_answer]


# -- (a) a good answer -----------------------------------------------------------


def test_intent_only_spec_the_model_writes_good_sql_and_the_engine_runs_it(
    hosted, intent_workbench
):
    model = ScriptedModel(
        plan=[
            tool_call(
                "inspect_dataset",
                {"key": "lake/flights"},
                usage={"prompt_tokens": 900, "completion_tokens": 21},
            ),
            tool_call(
                "propose_sql", {"sql": GOOD_SQL}, usage={"prompt_tokens": 1300, "completion_tokens": 64}
            ),
            plan_answer,
        ],
        execute=EXECUTE,
        validate=VALIDATE,
    )
    server, runner = hosted(model)
    result = _run(runner, intent_workbench, INTENT_SPEC)

    assert _rows(intent_workbench.output_path) == EXPECTED_ROWS
    assert result.execution.record_count == 4 and result.validation.valid
    assert result.plan.output_columns == ["carrier", "flights", "avg_dep_delay"]
    assert result.plan.sql == intent_workbench.plan.sql
    assert [(r.tool, r.ok) for r in result.trace] == [
        ("inspect_dataset", True),
        ("propose_sql", True),
        ("execute_plan", True),
        ("validate_output", True),
    ]
    assert result.trace[1].arguments == {"sql": GOOD_SQL}
    _assert_usage(result.token_usage, server)
    assert result.token_usage.prompt_tokens == 900 + 1300 + 5 * 120

    # What went over the wire: Chat Completions with native tools, the dummy key,
    # and each tool's answer fed back as a role=tool message.
    assert len(server.requests) == 7
    assert {request["model"] for request in server.requests} == {"scripted-model"}
    assert set(server.authorizations) == {f"Bearer {DUMMY_KEY}"}
    assert server.offered_tools(0) == ["inspect_dataset", "propose_sql"]
    assert server.offered_tools(3) == ["execute_plan", "data_pipeline_orchestrator"]
    [inspected] = server.tool_messages(1)
    assert '"row_count": 6' in inspected["content"]
    compiled = json.loads(tool_results(server.requests[2])[-1])
    assert compiled["output_columns"] == ["carrier", "flights", "avg_dep_delay"]
    assert compiled["sql"] == intent_workbench.plan.sql


def test_rule_spec_through_a_hosted_model(hosted):
    """A rule spec needs no SQL from the model: it calls the compiler's tool."""
    model = ScriptedModel(
        plan=[
            tool_call("inspect_dataset", {"key": "lake/flights"}),
            tool_call("inspect_dataset", {"key": "warehouse/airlines"}),
            tool_call("compile_plan"),
            plan_answer,
        ],
        execute=EXECUTE,
        validate=VALIDATE,
    )
    server, runner = hosted(model)
    workbench = FakeWorkbench()
    result = _run(runner, workbench, SPEC_SUMMARY)
    assert workbench.calls == [
        "inspect_dataset:lake/flights",
        "inspect_dataset:warehouse/airlines",
        "compile_plan",
        "execute_plan",
        "validate_output",
    ]
    assert [source.key for source in result.plan.sources] == ["lake/flights", "warehouse/airlines"]
    assert server.offered_tools(0) == ["inspect_dataset", "compile_plan"]
    _assert_usage(result.token_usage, server)


# -- (b) malicious SQL -------------------------------------------------------------


def test_malicious_sql_is_refused_with_the_reason_and_a_good_retry_succeeds(
    hosted, intent_workbench, tmp_path
):
    stolen = tmp_path / "stolen.csv"
    model = ScriptedModel(
        plan=[
            tool_call("inspect_dataset", {"key": "lake/flights"}),
            tool_call("propose_sql", {"sql": "SELECT * FROM read_csv('/etc/passwd')"}),
            tool_call("propose_sql", {"sql": f"COPY (SELECT * FROM \"lake/flights\") TO '{stolen}'"}),
            tool_call("propose_sql", {"sql": GOOD_SQL}),
            plan_answer,
        ],
        execute=EXECUTE,
        validate=VALIDATE,
    )
    server, runner = hosted(model)
    result = _run(runner, intent_workbench, INTENT_SPEC)

    # The refusals went back to the model, reason included, before it retried.
    assert tool_results(server.requests[2])[-1] == (
        "ERROR: sql: \"SELECT * FROM read_csv('/etc/passwd')\": table function read_csv is not allowed"
    )
    assert tool_results(server.requests[3])[-1].startswith("ERROR: sql: ")
    assert tool_results(server.requests[3])[-1].endswith("COPY statement is not allowed")
    assert not stolen.exists()

    assert _rows(intent_workbench.output_path) == EXPECTED_ROWS
    proposals = [r for r in result.trace if r.tool == "propose_sql"]
    assert [r.ok for r in proposals] == [False, False, True]
    assert proposals[0].error.endswith("table function read_csv is not allowed")
    _assert_usage(result.token_usage, server)


def test_a_model_that_keeps_proposing_bad_sql_fails_cleanly(hosted, intent_workbench):
    attempts = iter(range(10_000))

    def another_file_read(request: dict[str, Any]):
        return tool_call("propose_sql", {"sql": f"SELECT * FROM read_text('/etc/shadow{next(attempts)}')"})

    model = ScriptedModel(plan=[another_file_read], execute=EXECUTE, validate=VALIDATE)
    server, runner = hosted(model, max_iterations=4)
    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, intent_workbench, INTENT_SPEC)
    assert str(failed.value) == (
        "delays_by_carrier: crew run failed: plan_sql_transformation did not finish within "
        "4 model calls (llm.max_iterations=4)"
    )
    assert [(r.tool, r.ok) for r in failed.value.trace] == [("propose_sql", False)] * 4
    assert all("function read_text is not allowed" in r.error for r in failed.value.trace)
    assert len(server.requests) == 4
    assert intent_workbench.plan is None and not intent_workbench.output_path.exists()
    _assert_usage(failed.value.token_usage, server)


def test_a_model_that_gives_up_reports_the_last_error(hosted):
    model = ScriptedModel(
        plan=[
            tool_call("propose_sql", {"sql": "ATTACH 'x.db' AS x"}),
            lambda request: answer(
                {"status": "failed", "error": tool_results(request)[-1].removeprefix("ERROR: ")}
            ),
        ]
    )
    server, runner = hosted(model)
    workbench = FakeWorkbench()
    summary = {**SPEC_SUMMARY, "rules": [], "intent": "flights per carrier"}
    refused = "plan_sql_transformation failed: sql: .*ATTACH statement is not allowed"
    with pytest.raises(CrewRunFailed, match=refused):
        _run(runner, workbench, summary)
    assert workbench.calls == ["compile_sql"]


# -- (c) a loop that never finishes -------------------------------------------------


def test_a_tool_loop_ends_at_the_iteration_bound_and_changes_no_output(
    hosted, intent_workbench
):
    output = intent_workbench.output_path
    output.parent.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("COPY (SELECT 'previous' AS carrier) TO ? (FORMAT parquet)", [str(output)])
    before = output.read_bytes()
    def busy(request: dict[str, Any]):
        """Inspect, propose a (valid) variant, inspect again, ... and never answer."""
        n = turn_index(request)
        if n % 2 == 0:
            return tool_call("inspect_dataset", {"key": "lake/flights"})
        return tool_call("propose_sql", {"sql": f"{GOOD_SQL} LIMIT {n}"})

    model = ScriptedModel(plan=[busy])
    server, runner = hosted(model, max_iterations=6)

    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, intent_workbench, INTENT_SPEC)
    assert str(failed.value) == (
        "delays_by_carrier: crew run failed: plan_sql_transformation did not finish within "
        "6 model calls (llm.max_iterations=6)"
    )
    assert len(server.requests) == 6
    assert [r.tool for r in failed.value.trace] == ["inspect_dataset", "propose_sql"] * 3
    assert not any(r.tool == "execute_plan" for r in failed.value.trace)
    assert output.read_bytes() == before
    _assert_usage(failed.value.token_usage, server)


def test_a_slow_endless_loop_ends_at_the_time_limit(hosted, intent_workbench):
    """CrewAI's max_execution_time would wait for the loop to end; the runner does not."""
    keys = iter(range(10_000))

    def new_key(request: dict[str, Any]):
        return tool_call("inspect_dataset", {"key": f"lake/f{next(keys)}"})

    model = ScriptedModel(plan=[new_key])
    server, runner = hosted(model, delay_seconds=0.4, max_iterations=1000, timeout_seconds=1.5)
    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, intent_workbench, INTENT_SPEC)
    assert str(failed.value) == (
        "delays_by_carrier: crew run failed: time limit of 1.5s exceeded (llm.timeout_seconds)"
    )
    calls = len(server.requests)
    assert calls < 1000  # the time limit ended the loop, not the iteration limit
    time.sleep(1.0)  # the request in flight at the deadline gets no tool call after it
    assert len(server.requests) <= calls + 1
    assert all(not r.ok for r in failed.value.trace)  # unknown keys: refused, nothing ran
    assert intent_workbench.plan is None and not intent_workbench.output_path.exists()
