"""A local HTTP endpoint that records every request and answers from a script.

The demo, the tests and the benchmarks point the real slack-sdk and
datadog-api-client at it, so what is asserted is what went over the wire.
Faults are scripted per path: ``server.fail(path, status=429, retry_after=1)``
makes the next request to that path fail once, ``times=3`` three times,
``delay=2.0`` answers slowly (to provoke client timeouts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Captured:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        """The body as JSON; form-encoded bodies (Slack's default for some calls) become a dict."""
        text = self.body.decode("utf-8") if self.body else ""
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text).items()}
        return json.loads(text) if text else None


@dataclass
class Fault:
    status: int = 500
    times: int = 1
    retry_after: int | None = None
    delay: float = 0.0
    body: Any = None


#: A route answers (status, json body, extra headers) for a captured request.
Route = Callable[[Captured], tuple[int, Any, dict[str, str]]]


@dataclass
class CaptureServer:
    """Routes by exact path (or the longest registered prefix ending in '/')."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Captured] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, answer: Route) -> None:
        self.routes[path] = answer

    def fail(self, path: str, **fault: Any) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(Fault(**fault))

    def calls(self, path: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    def start(self) -> CaptureServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @contextmanager
    def running(self) -> Iterator[CaptureServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # -- used by the request handler
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _answer(self, request: Captured) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.status < 400:  # a slow but successful answer
                return self._route(request)
            return fault.status, fault.body if fault.body is not None else {"error": "injected"}, headers
        return self._route(request)

    def _route(self, request: Captured) -> tuple[int, Any, dict[str, str]]:
        answer = self.routes.get(request.path)
        if answer is None:
            prefixes = [p for p in self.routes if p.endswith("/") and request.path.startswith(p)]
            answer = self.routes[max(prefixes, key=len)] if prefixes else None
        if answer is None:
            return 404, {"error": f"no route for {request.path}"}, {}
        return answer(request)


def _handler_for(owner: CaptureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Captured(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            status, payload, headers = owner._answer(request)
            request.status = status
            with owner._lock:
                owner.requests.append(request)
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain"
                )
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests); nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # quiet: requests are recorded, not printed

    return Handler
