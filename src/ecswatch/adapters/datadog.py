"""Datadog behind :class:`ecswatch.ports.EventSink`: one event per run, metric points in one call per batch.

Built on datadog-api-client. The ``ApiClient`` (and its urllib3 pool) is made on
first use and kept for the container's life; the API key comes from a provider
callable on every call, so Powertools' cache decides when a rotated key is seen.

Throttling, 5xx and network trouble are retried by the client (``enable_retry``)
and, when they persist, raised as :class:`TransientError` so SQS redelivers.
A refused key or payload (401/403/400...) is a :class:`DeliveryError`: retrying
will not help until the configuration is fixed.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3
from aws_lambda_powertools import Logger
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.events_api import EventsApi
from datadog_api_client.v1.model.event_alert_type import EventAlertType
from datadog_api_client.v1.model.event_create_request import EventCreateRequest
from datadog_api_client.v2.api.metrics_api import MetricsApi
from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
from datadog_api_client.v2.model.metric_payload import MetricPayload
from datadog_api_client.v2.model.metric_point import MetricPoint as DDMetricPoint
from datadog_api_client.v2.model.metric_series import MetricSeries

from ecswatch.adapters.secrets import SecretError
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.text import cut_middle
from ecswatch.run import DatadogEvent, MetricPoint

T = TypeVar("T")

#: EventCreateRequest limits (v1 spec): text and aggregation_key are validated by the client.
TEXT_MAX = 4000
AGGREGATION_KEY_MAX = 100
#: The v1 spec sets no title limit; we keep a title to one readable line of at most 100 characters.
TITLE_MAX = 100
#: "Limited to events no older than 18 hours": older runs (a DLQ redrive) are posted as of now.
EVENT_MAX_AGE_SECONDS = 18 * 3600 - 600
logger = Logger(child=True)

#: Points kept for the next flush while Datadog refuses submits (a few hundred runs' worth); older ones
#: are dropped first and counted in ``DatadogSink.dropped``.
MAX_BUFFERED_POINTS = 10_000
#: /api/v2/series: "The maximum payload size is 500 kilobytes (512000 bytes)". We send it uncompressed.
SERIES_MAX_BYTES = 512_000
#: Points per series, so one series can never outgrow a payload on its own.
SERIES_MAX_POINTS = 1_000

#: What an "@" that could start a mention becomes: the full-width at sign, which reads as "@" but which
#: Datadog does not take for a notification handle (``@here``, ``@pagerduty-x``, ``@slack-x``).
DEFUSED_AT = "\uff20"
# ecswatch never means to notify from an event; an "@" in its text came from a task or from AWS. The
# targets of ecswatch's own links (a "](" not escaped) are skipped, so a URL is never changed.
_MENTION_OR_LINK_TARGET = re.compile(r"(?P<target>(?<!\\)\]\([^)\s]*+\))|@(?=[\w.-])")

_MARKDOWN_OPEN = "%%% \n"
_MARKDOWN_CLOSE = "\n %%%"
_TRUNCATED = "\n\n_(truncated)_"
_ALERT_TYPES = frozenset({"error", "warning", "info", "success", "user_update", "recommendation", "snapshot"})
_INTAKE_TYPES = {"gauge": 3, "count": 1, "rate": 2}
_RETRYABLE = frozenset({0, 408, 429})
_HINTS = {
    400: "Datadog refused the payload",
    401: "the API key is not valid (check DATADOG_API_KEY_PARAMETER and DATADOG_SITE)",
    403: "the API key is not valid for this site (check DATADOG_API_KEY_PARAMETER and DATADOG_SITE)",
    404: "no such endpoint (check DATADOG_SITE)",
    413: "payload too large",
}


@dataclass
class _Apis:
    config: Configuration
    client: ApiClient
    events: EventsApi
    metrics: MetricsApi


class DatadogSink:
    """Construction is free: no key is fetched and no client or connection made until the first send."""

    def __init__(
        self,
        *,
        api_key: Callable[[], str],
        site: str = "datadoghq.com",
        host: str | None = None,
        timeout: float = 5.0,
        max_retries: int = 3,
        clock: Callable[[], float] = time.time,
        max_payload_bytes: int = SERIES_MAX_BYTES,
        max_buffered_points: int = MAX_BUFFERED_POINTS,
    ) -> None:
        self._api_key = api_key
        self._site = normalise_site(site)
        self._host = host
        self._timeout = timeout
        self._max_retries = max_retries
        self._clock = clock
        self._max_payload_bytes = max_payload_bytes
        self._points: list[MetricPoint] = []
        self._max_buffered = max_buffered_points
        #: Points dropped, oldest first, because the buffer was full while submits were refused.
        self.dropped = 0
        self._dropped_logged = 0
        self._lock = threading.Lock()
        self._apis: _Apis | None = None

    @property
    def host(self) -> str:
        """The base URL requests go to (builds the client if needed; no request is made)."""
        return str(self._get_apis().config.host)

    @property
    def pending(self) -> int:
        """Points buffered and not yet accepted by Datadog."""
        with self._lock:
            return len(self._points)

    def send_event(self, event: DatadogEvent) -> None:
        request = event_request(event, now=self._clock())
        self._call("post event", lambda apis: apis.events.create_event(body=request))

    def add_points(self, points: list[MetricPoint]) -> None:
        # NaN and infinity are not JSON numbers: Datadog would refuse the whole payload, every flush.
        finite = [p for p in points if math.isfinite(p.value)]
        with self._lock:
            self._points.extend(finite)
            self._cap()

    def _cap(self) -> None:
        """Keep the newest points (caller holds the lock): a long Datadog outage must not grow a warm
        container's memory without bound. Dropped points are counted and logged at the next flush."""
        excess = len(self._points) - self._max_buffered
        if excess > 0:
            del self._points[:excess]
            self.dropped += excess

    def flush(self) -> int:
        """Submit every buffered point, in one call unless the payload limit forces more.

        Points of a call that fails go back to the buffer (ahead of any added since),
        so the next flush resends them; points of calls that succeeded are not resent.
        """
        with self._lock:
            pending, self._points = self._points, []
            dropped, self._dropped_logged = self.dropped - self._dropped_logged, self.dropped
        if dropped:
            logger.warning("Datadog metric points dropped while submits failed", extra={"dropped": dropped})
        if not pending:
            return 0
        delivered: Counter[int] = Counter()
        try:
            for payload, points in payload_batches(pending, self._max_payload_bytes):
                self._submit(payload)
                delivered.update(id(p) for p in points)
        except Exception:
            with self._lock:
                self._points = _without(pending, delivered) + self._points
                self._cap()
            raise
        return len(pending)

    def _submit(self, payload: MetricPayload) -> None:
        self._call("submit metrics", lambda apis: apis.metrics.submit_metrics(body=payload))

    # -- client and errors
    def _get_apis(self) -> _Apis:
        with self._lock:
            if self._apis is None:
                self._apis = self._build()
            return self._apis

    def _build(self) -> _Apis:
        config = Configuration(  # type: ignore[no-untyped-call]  # the SDK leaves __init__ unannotated
            host=self._host,
            enable_retry=True,
            max_retries=self._max_retries,
            request_timeout=self._timeout,
        )
        if self._host is None:
            # Set after construction: Configuration() lets a DD_SITE variable (the Datadog
            # Lambda extension's) override its arguments, and DATADOG_SITE must win.
            config.server_variables["site"] = self._site
            try:
                _ = config.host  # resolves the site against the SDK's list of sites
            except ValueError as e:
                raise DeliveryError(f"DATADOG_SITE {self._site!r} is not a Datadog site") from e
        client = ApiClient(config)
        return _Apis(config, client, EventsApi(client), MetricsApi(client))  # type: ignore[no-untyped-call]

    def _call(self, what: str, call: Callable[[_Apis], T]) -> T:
        apis = self._get_apis()
        try:
            apis.config.api_key["apiKeyAuth"] = self._api_key()
        except SecretError as e:
            raise DeliveryError(f"Datadog {what}: API key unavailable: {e}") from e
        try:
            return call(apis)
        except ApiException as e:
            raise _api_error(what, e) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            # Timeouts, refused connections, retries exhausted on a dropped connection.
            raise TransientError(f"Datadog {what}: {type(e).__name__}: {e}") from e


def _without(points: list[MetricPoint], delivered: Counter[int]) -> list[MetricPoint]:
    """``points`` minus those delivered (by identity: equal points of two runs are distinct)."""
    left = Counter(delivered)
    kept = []
    for point in points:
        if left[id(point)] > 0:
            left[id(point)] -= 1
        else:
            kept.append(point)
    return kept


def _api_error(what: str, e: ApiException) -> Exception:
    status = int(e.status or 0)
    detail = _error_detail(e.body)
    if status in _RETRYABLE or status >= 500:
        return TransientError(f"Datadog {what}: HTTP {status} {e.reason or ''}{detail} (after retries)")
    hint = _HINTS.get(status, "refused")
    return DeliveryError(f"Datadog {what}: HTTP {status}: {hint}{detail}")


def _error_detail(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return ": " + "; ".join(str(err) for err in errors)[:300]
    return ""


def normalise_site(site: str) -> str:
    """Accept what people paste: ``https://app.datadoghq.eu/`` means the site ``datadoghq.eu``."""
    site = site.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    for prefix in ("app.", "api."):
        site = site.removeprefix(prefix)
    return site or "datadoghq.com"


# -- events
def event_request(event: DatadogEvent, *, now: float) -> EventCreateRequest:
    fields: dict[str, Any] = {
        "title": clean_title(defuse_mentions(event.title)),
        "text": event_text(defuse_mentions(event.text)),
        "alert_type": EventAlertType(  # type: ignore[no-untyped-call]
            event.alert_type if event.alert_type in _ALERT_TYPES else "info"
        ),
        "aggregation_key": event.aggregation_key[:AGGREGATION_KEY_MAX],
        "tags": list(event.tags),
        "source_type_name": event.source_type_name,
    }
    if event.date_happened > 0 and now - event.date_happened <= EVENT_MAX_AGE_SECONDS:
        fields["date_happened"] = event.date_happened
    return EventCreateRequest(**fields)


def defuse_mentions(text: str) -> str:
    """Every "@" that could start a Datadog mention, outside ecswatch's own link targets, made plain text.

    Datadog notifies the handles it finds in event text; task data (a container reason, a
    stoppedReason, CloudTrail's errorMessage) must not page anyone or post to a channel.
    """
    if "@" not in text:
        return text
    return _MENTION_OR_LINK_TARGET.sub(lambda m: m["target"] or DEFUSED_AT, text)


def clean_title(title: str, limit: int = TITLE_MAX) -> str:
    """One line of at most ``limit`` characters, cut in the middle at words, an ellipsis where cut:
    the job and outcome at its start and what follows (why no retry) at its end both stay."""
    return cut_middle(" ".join(title.split()), limit)


def event_text(markdown: str, limit: int = TEXT_MAX) -> str:
    """Markdown wrapped in ``%%%``, within ``limit``. The last paragraph (the links) survives a cut."""
    budget = limit - len(_MARKDOWN_OPEN) - len(_MARKDOWN_CLOSE)
    if len(markdown) > budget:
        head, sep, tail = markdown.rpartition("\n\n")
        if not sep or len(tail) > budget // 2:
            head, tail = markdown, ""
        room = budget - len(_TRUNCATED) - (len(tail) + 2 if tail else 0)
        head = _cut_at_line(head, room)
        markdown = head + _TRUNCATED + ("\n\n" + tail if tail else "")
    return _MARKDOWN_OPEN + markdown + _MARKDOWN_CLOSE


def _cut_at_line(text: str, room: int) -> str:
    cut = text[:room]
    newline = cut.rfind("\n")
    return cut[:newline] if newline > room // 2 else cut


# -- metrics
@dataclass
class _Series:
    metric: str
    kind: str
    unit: str | None
    tags: tuple[str, ...]
    values: dict[int, float] = field(default_factory=dict)
    sources: list[MetricPoint] = field(default_factory=list)

    def add(self, point: MetricPoint) -> None:
        # A count is a sum: two runs ending in the same second count 2. A gauge keeps the last value,
        # which is what Datadog does with two points at one timestamp anyway.
        old = self.values.get(point.timestamp, 0.0) if self.kind == "count" else 0.0
        self.values[point.timestamp] = old + point.value
        self.sources.append(point)

    def as_json(self) -> dict[str, Any]:
        """The body the client sends for this series (used to measure payload size)."""
        body: dict[str, Any] = {
            "metric": self.metric,
            "type": _INTAKE_TYPES.get(self.kind, 0),
            "points": [{"timestamp": t, "value": v} for t, v in sorted(self.values.items())],
            "tags": list(self.tags),
        }
        if self.unit:
            body["unit"] = self.unit
        return body

    def as_model(self) -> MetricSeries:
        fields: dict[str, Any] = {
            "metric": self.metric,
            "type": MetricIntakeType(_INTAKE_TYPES.get(self.kind, 0)),  # type: ignore[no-untyped-call]
            "points": [DDMetricPoint(timestamp=t, value=float(v)) for t, v in sorted(self.values.items())],
            "tags": list(self.tags),
        }
        if self.unit:
            fields["unit"] = self.unit
        return MetricSeries(**fields)


def group_series(points: list[MetricPoint]) -> list[_Series]:
    """One series per metric, type, unit and tag set, in first-seen order."""
    open_series: dict[tuple[str, str, str | None, tuple[str, ...]], _Series] = {}
    done: list[_Series] = []
    for point in points:
        key = (point.name, point.kind, point.unit, tuple(sorted(point.tags)))
        series = open_series.get(key)
        if series is None or (
            len(series.values) >= SERIES_MAX_POINTS and point.timestamp not in series.values
        ):
            series = _Series(point.name, point.kind, point.unit, point.tags)
            open_series[key] = series
            done.append(series)
        series.add(point)
    return done


def payload_batches(
    points: list[MetricPoint], max_bytes: int = SERIES_MAX_BYTES
) -> Iterator[tuple[MetricPayload, list[MetricPoint]]]:
    """MetricPayloads no larger than ``max_bytes`` of JSON, each with the points it carries."""
    envelope = len(json.dumps({"series": []}))
    batch: list[_Series] = []
    size = envelope
    for series in group_series(points):
        extra = len(json.dumps(series.as_json())) + (2 if batch else 0)
        if batch and size + extra > max_bytes:
            yield _payload(batch)
            batch, size = [], envelope
            extra -= 2
        batch.append(series)
        size += extra
    if batch:
        yield _payload(batch)


def _payload(batch: list[_Series]) -> tuple[MetricPayload, list[MetricPoint]]:
    return MetricPayload(series=[s.as_model() for s in batch]), [p for s in batch for p in s.sources]
