"""A local Datadog API for the demo and the tests: events, series and key validation over real HTTP.

The real datadog-api-client is pointed at it (``DatadogSink(host=fake.url)``), so
what the tests assert is what went over the wire. It answers like Datadog does
(202 with the same bodies, 403 for a missing or unknown key, 413 past the
documented series payload limit, 400 for a body Datadog would refuse) and
decodes gzip/deflate bodies, which the client sends when a caller asks for
``content_encoding``.

Faults on demand, per endpoint: :meth:`FakeDatadog.fault` (429, 500, a slow answer), also over
HTTP (``POST /_control/fault`` with ``{"path": "/api/v1/events", "status": 500}``; ``GET
/_control/requests``; ``POST /_control/clear``) for a fake in another process
(:func:`local.fake_slack.control`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import count
from typing import Any

from local.capture import Captured, CaptureServer
from local.fake_slack import CONTROL, received

EVENTS_PATH = "/api/v1/events"
SERIES_PATH = "/api/v2/series"
VALIDATE_PATH = "/api/v1/validate"
DASHBOARDS_PATH = "/api/v1/dashboard"
MONITORS_PATH = "/api/v1/monitor"
#: Documented for /api/v2/series: 512000 bytes on the wire, 5242880 bytes once decompressed.
SERIES_MAX_BYTES = 512_000
SERIES_MAX_DECOMPRESSED_BYTES = 5_242_880
EVENT_TEXT_MAX = 4000
_TYPE_NAMES = {0: "unspecified", 1: "count", 2: "rate", 3: "gauge"}

Answer = tuple[int, Any, dict[str, str]]


class FakeDatadog:
    """Wraps a :class:`CaptureServer`; faults are scripted on it (``fake.server.fail(SERIES_PATH, ...)``)."""

    def __init__(self, server: CaptureServer | None = None, *, api_keys: set[str] | None = None) -> None:
        self.server = server or CaptureServer()
        #: Keys Datadog knows; None accepts any non-empty key.
        self.api_keys = api_keys
        self._ids = count(7_000_000_000_000_000_001)
        self.server.route(EVENTS_PATH, self._post_event)
        self.server.route(SERIES_PATH, self._post_series)
        self.server.route(VALIDATE_PATH, self._validate)
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.monitors: dict[int, dict[str, Any]] = {}
        self.server.route(DASHBOARDS_PATH, self._dashboards)
        self.server.route(DASHBOARDS_PATH + "/", self._dashboard)
        self.server.route(MONITORS_PATH, self._monitors)
        self.server.route(MONITORS_PATH + "/", self._monitor)
        self.server.route(CONTROL + "fault", self._control_fault)
        self.server.route(CONTROL + "requests", lambda _: (200, received(self.server), {}))
        self.server.route(CONTROL + "clear", self._control_clear)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FakeDatadog:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @contextmanager
    def running(self) -> Iterator[FakeDatadog]:
        with self.server.running():
            yield self

    def calls(self, path: str) -> list[Captured]:
        return self.server.calls(path)

    def fault(
        self,
        path: str,
        *,
        status: int = 500,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        body: Any = None,
    ) -> None:
        """The next ``times`` requests to ``path`` (EVENTS_PATH, SERIES_PATH) fail with ``status``
        (and Retry-After, and ``body``); a ``status`` below 400 with a ``delay`` is a slow success."""
        self.server.fail(path, status=status, times=times, delay=delay, retry_after=retry_after, body=body)

    def _control_fault(self, request: Captured) -> Answer:
        self.fault(**dict(request.json or {}))
        return 200, {"ok": True}, {}

    def _control_clear(self, request: Captured) -> Answer:
        self.server.clear()
        return 200, {"ok": True}, {}

    def events(self) -> list[dict[str, Any]]:
        """Bodies of the events Datadog accepted, in order."""
        return [decoded_json(r) for r in self.calls(EVENTS_PATH) if r.status == 202]

    def series(self) -> list[dict[str, Any]]:
        """Every series of every accepted /api/v2/series request, in order."""
        return [s for r in self.calls(SERIES_PATH) if r.status == 202 for s in decoded_json(r)["series"]]

    # -- routes
    def _refused(self, request: Captured) -> Answer | None:
        key = request.headers.get("dd-api-key", "")
        if not key or (self.api_keys is not None and key not in self.api_keys):
            return 403, {"errors": ["Forbidden"]}, {}
        return None

    def _post_event(self, request: Captured) -> Answer:
        refused = self._refused(request)
        if refused:
            return refused
        body = decoded_json(request)
        problem = _event_problem(body)
        if problem:
            return 400, {"errors": [problem]}, {}
        event_id = next(self._ids)
        event = {
            "date_happened": body.get("date_happened", int(datetime.now(UTC).timestamp())),
            "handle": None,
            "id": event_id,
            "id_str": str(event_id),
            "priority": None,
            "related_event_id": None,
            "tags": body.get("tags", []),
            "text": body["text"],
            "title": body["title"],
            "url": f"https://app.datadoghq.com/event/event?id={event_id}",
        }
        return 202, {"status": "ok", "event": event}, {}

    def _post_series(self, request: Captured) -> Answer:
        refused = self._refused(request)
        if refused:
            return refused
        if len(request.body) > SERIES_MAX_BYTES or len(decoded_body(request)) > SERIES_MAX_DECOMPRESSED_BYTES:
            return 413, {"errors": ["Payload too large"]}, {}
        problem = _series_problem(decoded_json(request))
        if problem:
            return 400, {"errors": [problem]}, {}
        return 202, {"errors": []}, {}

    def _validate(self, request: Captured) -> Answer:
        refused = self._refused(request)
        return refused or (200, {"valid": True}, {})

    # -- dashboards and monitors, as ``ecswatch datadog apply`` uses them (API and application key)
    def _app_refused(self, request: Captured) -> Answer | None:
        refused = self._refused(request)
        if refused or request.headers.get("dd-application-key"):
            return refused
        return 403, {"errors": ["Forbidden"]}, {}

    def _dashboards(self, request: Captured) -> Answer:
        """GET lists summaries; POST creates, adding what Datadog adds (ids, url, widget ids)."""
        refused = self._app_refused(request)
        if refused:
            return refused
        if request.method == "GET":
            summaries = [
                {"id": d["id"], "title": d["title"], "url": d["url"]} for d in self.dashboards.values()
            ]
            return 200, {"dashboards": summaries}, {}
        body = decoded_json(request)
        number = len(self.dashboards) + 1
        stored = {**_with_widget_ids(body, count(number * 1000)), "id": f"abc-def-{number:03d}"}
        stored["url"] = f"/dashboard/{stored['id']}"
        self.dashboards[stored["id"]] = stored
        return 200, stored, {}

    def _dashboard(self, request: Captured) -> Answer:
        refused = self._app_refused(request)
        if refused:
            return refused
        dashboard_id = request.path.removeprefix(DASHBOARDS_PATH + "/")
        if dashboard_id not in self.dashboards:
            return 404, {"errors": ["Dashboard not found"]}, {}
        if request.method == "PUT":
            kept = {"id": dashboard_id, "url": self.dashboards[dashboard_id]["url"]}
            self.dashboards[dashboard_id] = {**_with_widget_ids(decoded_json(request), count(1)), **kept}
        return 200, self.dashboards[dashboard_id], {}

    def _monitors(self, request: Captured) -> Answer:
        """GET lists (``monitor_tags`` filters, all tags must be present); POST creates."""
        refused = self._app_refused(request)
        if refused:
            return refused
        if request.method == "GET":
            wanted = [t for v in request.query.get("monitor_tags", []) for t in v.split(",") if t]
            found = [m for m in self.monitors.values() if all(t in m.get("tags", []) for t in wanted)]
            return 200, found, {}
        monitor_id = len(self.monitors) + 1
        stored = _monitor_as_stored(decoded_json(request), monitor_id)
        self.monitors[monitor_id] = stored
        return 200, stored, {}

    def _monitor(self, request: Captured) -> Answer:
        refused = self._app_refused(request)
        if refused:
            return refused
        monitor_id = int(request.path.removeprefix(MONITORS_PATH + "/") or 0)
        if monitor_id not in self.monitors:
            return 404, {"errors": ["Monitor not found"]}, {}
        if request.method == "PUT":
            self.monitors[monitor_id] = _monitor_as_stored(
                {**self.monitors[monitor_id], **decoded_json(request)}, monitor_id
            )
        return 200, self.monitors[monitor_id], {}


def _with_widget_ids(body: Any, ids: Iterator[int]) -> Any:
    """Datadog gives every stored widget (group members too) an id."""
    if isinstance(body, dict):
        numbered = {k: _with_widget_ids(v, ids) for k, v in body.items()}
        return {**numbered, "id": next(ids)} if "definition" in body else numbered
    if isinstance(body, list):
        return [_with_widget_ids(item, ids) for item in body]
    return body


def _monitor_as_stored(body: dict[str, Any], monitor_id: int) -> dict[str, Any]:
    """What Datadog answers for a monitor: the body, its id and state, and its default options."""
    defaults = {"notify_audit": False, "new_host_delay": 300, "silenced": {}}
    return {
        **body,
        "id": monitor_id,
        "overall_state": "No Data",
        "created": "2025-03-05T12:00:00.000000+00:00",
        "modified": "2025-03-05T12:00:00.000000+00:00",
        "options": {**defaults, **(body.get("options") or {})},
    }


def decoded_body(request: Captured) -> bytes:
    """The request body with its Content-Encoding undone (the client can send gzip or deflate)."""
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        return zlib.decompress(request.body, wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompress(request.body)
    return request.body


def decoded_json(request: Captured) -> Any:
    raw = decoded_body(request)
    return json.loads(raw) if raw else None


def _event_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("title", "text"):
        if not isinstance(body.get(name), str):
            return f"'{name}' is required"
    if len(body["text"]) > EVENT_TEXT_MAX:
        return f"text is longer than {EVENT_TEXT_MAX} characters"
    return None


def _series_problem(body: Any) -> str | None:
    series = body.get("series") if isinstance(body, dict) else None
    if not isinstance(series, list):
        return "'series' is required"
    for item in series:
        if not isinstance(item.get("metric"), str) or not isinstance(item.get("points"), list):
            return "each series needs 'metric' and 'points'"
        if any("timestamp" not in p or "value" not in p for p in item["points"]):
            return "each point needs 'timestamp' and 'value'"
    return None


# -- readable text for the demo
def render_event(event: dict[str, Any]) -> str:
    """An event as a terminal block: alert type and title, then key, tags and the markdown text."""
    text = str(event.get("text", ""))
    text = text.removeprefix("%%% \n").removesuffix("\n %%%")
    lines = [
        f"[{str(event.get('alert_type', 'info')).upper()}] {event.get('title', '')}",
        f"  aggregation_key: {event.get('aggregation_key', '-')}",
        f"  source: {event.get('source_type_name', '-')}  happened: {_when(event.get('date_happened'))}",
        f"  tags: {', '.join(event.get('tags', [])) or '-'}",
        "",
        *(f"  | {line}" for line in text.splitlines()),
    ]
    return "\n".join(lines)


def render_series(series: list[dict[str, Any]]) -> str:
    """One line per point: metric, type, value with unit, time, tags."""
    lines = []
    for item in series:
        kind = _TYPE_NAMES.get(item.get("type", 0), str(item.get("type")))
        unit = f" {item['unit']}" if item.get("unit") else ""
        tags = ",".join(item.get("tags", []))
        for point in item.get("points", []):
            value = f"{point['value']:g}{unit}"
            lines.append(f"{item['metric']:<30} {kind:<6} {value:>14}  {_when(point['timestamp'])}  {tags}")
    return "\n".join(lines)


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float) or epoch <= 0:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
