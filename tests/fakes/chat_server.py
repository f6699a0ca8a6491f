"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1, for the hosted-LLM path.

`ScriptedChatServer` serves `POST /v1/chat/completions` (non-streaming) on a random
loopback port. Each request is recorded (`requests`) and answered by the server's
`respond(request)` callable, which returns an assistant turn built with `tool_call`,
`tool_calls` or `answer`. Every response carries a `usage` block: turns may give
their own, otherwise a fixed one, and `usage_sent` sums what was sent so a test
can compare it with what the crew recorded.

Anything else (another path, a stream request) gets an error response and is
recorded in `unexpected`; `authorizations` keeps each request's Authorization
header.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30}
COMPLETIONS_PATH = "/v1/chat/completions"

Turn = dict[str, Any]
Responder = Callable[[dict[str, Any]], Turn]


def tool_calls(*calls: tuple[str, dict[str, Any]], usage: dict[str, int] | None = None) -> Turn:
    """An assistant turn that calls these tools, in order."""
    return {
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{next(_ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for name, arguments in calls
            ],
        },
        "finish_reason": "tool_calls",
        "usage": usage,
    }


def tool_call(name: str, arguments: dict[str, Any] | None = None, **kw: Any) -> Turn:
    return tool_calls((name, arguments or {}), **kw)


def answer(content: str | dict[str, Any], *, usage: dict[str, int] | None = None) -> Turn:
    """An assistant turn with text content (a dict is sent as its JSON)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return {
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
        "usage": usage,
    }


_ids = itertools.count(1)


class ScriptedChatServer:
    """Start with `with ScriptedChatServer(respond) as server:`; `server.base_url` ends in /v1."""

    def __init__(self, respond: Responder, *, delay_seconds: float = 0.0) -> None:
        self.respond = respond
        self.delay_seconds = delay_seconds
        self.requests: list[dict[str, Any]] = []
        self.unexpected: list[str] = []
        self.authorizations: list[str] = []
        self.usage_sent = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.responses_sent = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what the tests read ------------------------------------------------

    def tool_messages(self, request_index: int = -1) -> list[dict[str, Any]]:
        """The `role: tool` messages of one recorded request."""
        messages = self.requests[request_index].get("messages", [])
        return [m for m in messages if m.get("role") == "tool"]

    def offered_tools(self, request_index: int = -1) -> list[str]:
        return [t["function"]["name"] for t in self.requests[request_index].get("tools") or []]

    # -- serving ------------------------------------------------------------

    def _reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
        if body.get("stream"):
            with self._lock:
                self.unexpected.append("stream=true")
            return 400, _error("streaming is not scripted")
        turn = self.respond(body)
        usage = dict(turn.get("usage") or DEFAULT_USAGE)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        with self._lock:
            for name in self.usage_sent:
                self.usage_sent[name] += usage[name]
            self.responses_sent += 1
            number = self.responses_sent
        return 200, {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [
                {
                    "index": 0,
                    "message": turn["message"],
                    "finish_reason": turn.get("finish_reason", "stop"),
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                with server._lock:
                    server.authorizations.append(self.headers.get("Authorization", ""))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != COMPLETIONS_PATH:
                    with server._lock:
                        server.unexpected.append(f"POST {self.path}")
                    self._send(404, _error(f"no such path {self.path}"))
                    return
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                try:
                    status, payload = server._reply(json.loads(raw or b"{}"))
                except Exception as e:  # a broken script must show up, not hang the client
                    with server._lock:
                        server.unexpected.append(f"script raised {type(e).__name__}: {e}")
                    status, payload = 500, _error(f"script raised {type(e).__name__}: {e}")
                self._send(status, payload)

            def do_GET(self) -> None:  # noqa: N802
                with server._lock:
                    server.unexpected.append(f"GET {self.path}")
                self._send(404, _error(f"no such path {self.path}"))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}
