"""The outside world as the domain sees it: small Protocols, implemented in ``ecswatch.adapters``.

The domain takes these as arguments, so its tests pass plain fakes and the
handlers pass adapters built once per Lambda container.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ecswatch.events.taskdef import TaskDefinition

if TYPE_CHECKING:
    from ecswatch.analysis.pipeline import RunReport
    from ecswatch.events.task import TaskEvent, TaskRef
    from ecswatch.notifications.alerts import Alert, DatadogEvent, MetricPoint
    from ecswatch.retries.request import RetryRequest


class TransientError(Exception):
    """An outside system failed in a way that may pass (throttling, 5xx, timeout): redeliver the message."""


class LaunchNotStarted(TransientError):
    """RunTask itself failed for a passing reason (throttling, no capacity): the task was not started."""


class DeliveryError(Exception):
    """An outside system refused for a reason that will not pass by itself (bad token, unknown channel).

    The item still fails, so nothing is lost and it ends in the dead-letter queue, but it will not
    pass until the configuration is fixed; the message names what to fix.
    """


@dataclass(frozen=True)
class LogTail:
    """The last lines of a container's log, already redacted and cut to size; or a note saying why not."""

    lines: tuple[str, ...] = ()
    note: str | None = None
    truncated: bool = False


class TaskDefinitions(Protocol):
    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        """The task definition, or None when it no longer exists or cannot be read (noted in logs)."""
        ...


class LogReader(Protocol):
    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        """The newest ``lines`` raw lines of a stream; a missing stream or denied access gives a note."""
        ...


class RunSink(Protocol):
    """Somewhere a run report goes: a log line, metrics, Datadog, Slack."""

    def publish(self, report: RunReport) -> None: ...


@dataclass(frozen=True)
class MessageRef:
    """Where a Slack message lives, so it can be updated and threaded later.

    ``own`` is False when the message stands for a storm of runs: news about one run may
    go into its thread, but must not overwrite the storm's summary.
    """

    channel: str
    ts: str
    own: bool = True


class ChatPoster(Protocol):
    """Slack, seen from the domain. Failures raise TransientError (after the client's own retries)."""

    def post(self, channel: str, alert: Alert, *, thread: MessageRef | None = None) -> MessageRef | None:
        """Post a message (a thread reply when ``thread`` is given). Webhooks return no ref."""
        ...

    def update(self, ref: MessageRef, alert: Alert) -> None: ...


class EventSink(Protocol):
    """Datadog, seen from the domain: one event per run, metric points sent in one call per batch."""

    def send_event(self, event: DatadogEvent) -> None: ...

    def add_points(self, points: list[MetricPoint]) -> None: ...

    def flush(self) -> int:
        """Submit the buffered points in one call; returns how many were sent."""
        ...


@dataclass(frozen=True)
class StormJoin:
    """A job's current failure window after one failure joined it.

    ``count`` counts distinct runs (a redelivered run does not count twice);
    ``message`` is the Slack message standing for the window once posted.
    """

    job: str
    window_start: datetime
    count: int
    causes: tuple[str, ...]
    message: MessageRef | None
    is_new_member: bool
    updated_at_count: int = 0


class NotificationState(Protocol):
    """Conditional writes that make Slack grouping and threading safe under at-least-once delivery."""

    def join_storm(
        self, job: str, run_key: str, cause: str, now: datetime, window_seconds: int
    ) -> StormJoin: ...

    def claim_storm_post(self, job: str, window_start: datetime, run_key: str, now: datetime) -> bool:
        """True for exactly one caller per window (or after its lease expired): that one posts."""
        ...

    def set_storm_message(self, job: str, window_start: datetime, ref: MessageRef) -> StormJoin: ...

    def mark_storm_updated(self, job: str, window_start: datetime, count: int) -> None: ...

    def thread_for(self, run_key: str) -> MessageRef | None: ...

    def save_thread(self, run_key: str, ref: MessageRef) -> None: ...


class OnceGuard(Protocol):
    """Run an action at most once per key across redeliveries; a failed action may run again."""

    def once(self, key: str, action: Callable[[], None]) -> bool:
        """True if the action ran now, False if it had already completed for this key."""
        ...

    def register_lambda_context(self, context: Any) -> None: ...


@dataclass(frozen=True)
class LaunchResult:
    """RunTask's answer: the new task, or why ECS refused (``failures[].reason``/``detail``)."""

    task_arn: str | None = None
    failure: str | None = None


class TaskRunner(Protocol):
    def run(self, request: RetryRequest) -> LaunchResult:
        """Start the task. Throttling and capacity shortages raise TransientError (try again later);
        a refusal that will not pass by waiting (bad subnet, inactive revision) comes back as ``failure``."""
        ...


class RetryScheduler(Protocol):
    def schedule(self, request: RetryRequest, delay_seconds: int) -> str:
        """Deliver the request to the launcher after the delay; returns the message id or schedule name."""
        ...


class NetworkDiscovery(Protocol):
    def network_for(
        self, region: str, started_by: str | None, task_definition_arn: str | None = None
    ) -> Mapping[str, Any] | None:
        """RunTask's networkConfiguration of the rule or schedule target that started a task, if any;
        with ``task_definition_arn``, the target that runs the same family."""
        ...


@dataclass(frozen=True)
class Lineage:
    """Which attempt of which root run a task is; the first run is its own root, attempt 1."""

    root_task_arn: str
    attempt: int
    of: int
    job: str
    #: RunTask's networkConfiguration that launched this attempt: a later attempt reuses it, since
    #: a retried task's startedBy no longer names the EventBridge rule it could be discovered from.
    network: Mapping[str, Any] | None = None
    #: Dependency chains (``on_success``/``on_failure``): the chain this run belongs to (the task id of
    #: the root run of the job that started the chain), the task ARN of the run that started this one,
    #: and that run's job. None for a run no chain started; a retry keeps its first attempt's values.
    chain_id: str | None = None
    triggered_by: str | None = None
    triggered_by_job: str | None = None


class LineageStore(Protocol):
    def lineage_of(self, task_arn: str) -> Lineage | None: ...

    def record_lineage(self, task_arn: str, lineage: Lineage) -> None: ...


@dataclass(frozen=True)
class RunRecord:
    """One run of a job (or one launch that created no task) as the history keeps it.

    ``started_at`` is when the run began for the history's purposes: the task's ``createdAt``
    (or the RunTask call's time for a failed launch), so a run sorts where its schedule put it.
    ``outcome`` is an ``Outcome`` value, ``"failed_to_launch"``, or None while the task runs.
    """

    job: str
    run_id: str  # the task ARN, or "launch:<CloudTrail eventID>" for a failed launch
    cluster: str
    region: str
    started_at: datetime
    stopped_at: datetime | None = None
    outcome: str | None = None
    cause: str = ""
    exit_code: int | None = None
    attempt: int = 1
    attempts_of: int = 1
    root_run_id: str | None = None
    #: phase name -> seconds ("start_latency", "pull", "run", "total", ...); None where unknown
    durations: Mapping[str, float | None] | None = None
    #: link name -> URL ("logs", "task", "insights", ...)
    links: Mapping[str, str] | None = None
    task_started_at: datetime | None = None
    #: Where the deciding container logged (``ecswatch logs`` reads it back); None where unknown,
    #: and then ``log_note`` says why, in the words of the alert.
    log_region: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    log_note: str | None = None

    @property
    def is_running(self) -> bool:
        return self.outcome is None


class RunHistory(Protocol):
    """Every run of every job, one write per event, queried by job and time range, newest first."""

    def record(self, run: RunRecord) -> None: ...

    def runs(
        self,
        job: str,
        *,
        since: datetime,
        until: datetime | None = None,
        limit: int | None = None,
        outcome: str | None = None,
    ) -> list[RunRecord]:
        """Runs of ``job`` whose ``started_at`` is in [since, until], newest first (pages followed);
        only those with that ``outcome`` when one is given (the slow-run rule reads successes)."""
        ...

    def run(self, run_id: str) -> RunRecord | None:
        """The run with that id, a task ARN's task id, or a failed launch's id; None if not recorded."""
        ...


# --------------------------------------------------------------------------- watchdog


@dataclass(frozen=True)
class TaskScan:
    """The tasks of the watched clusters that ECS has not stopped, read fresh, as task events.

    ``problems`` names clusters that could not be read (one line each): the rest are still checked.
    """

    tasks: tuple[TaskEvent, ...] = ()
    problems: tuple[str, ...] = ()


class LiveTasks(Protocol):
    def scan(self) -> TaskScan:
        """Every task of every watched cluster whose desired status is RUNNING."""
        ...

    def stop(self, task: TaskRef, reason: str) -> None:
        """StopTask with that reason; a task already gone is not an error."""
        ...


@dataclass(frozen=True)
class FoundSchedule:
    """The schedule of the EventBridge rule or Scheduler schedule that starts a job."""

    expression: str
    source: str  # "EventBridge rule nightly-report-0200", for alerts
    timezone: str = "UTC"
    enabled: bool = True
    #: When the schedule began (Scheduler's StartDate or CreationDate); unknown for rules.
    start: datetime | None = None
    #: Scheduler's EndDate: no runs are expected after it.
    end: datetime | None = None
    #: Scheduler's flexible time window: a run may start this much after its time.
    flexible_window_seconds: int = 0


class ScheduleFinder(Protocol):
    def find(self, started_by: str) -> FoundSchedule | None:
        """The schedule behind a job's ``match.started_by`` (``events-rule/<rule>`` or
        ``chronos-schedule/<schedule>``), or None when it names none (logged). Raises
        :class:`DeliveryError` when it may not be read (a refusal the configuration must end)."""
        ...


@dataclass(frozen=True)
class ScheduleWatch:
    """What the watchdog keeps per scheduled job between invocations.

    ``watched_since``: no run is expected before it (a job added today was not due last night).
    ``missed``: the expected start the open missed-run alert is about, until the job runs again.
    """

    job: str
    watched_since: datetime
    missed: datetime | None = None


class WatchdogState(Protocol):
    def schedule_watches(self) -> Mapping[str, ScheduleWatch]:
        """Every job's watch, by job name, in one read."""
        ...

    def start_watching(self, job: str, now: datetime) -> ScheduleWatch:
        """The job's watch, created with ``watched_since = now`` unless it exists (then it is kept)."""
        ...

    def open_miss(self, job: str, expected: datetime) -> None:
        """Remember the missed start, unless one is already open for the job."""
        ...

    def close_miss(self, job: str, expected: datetime) -> None:
        """Forget that missed start (only that one): the job ran again."""
        ...
