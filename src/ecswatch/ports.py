"""The outside world as the domain sees it: small Protocols, implemented in ``ecswatch.adapters``.

The domain takes these as arguments, so its tests pass plain fakes and the
handlers pass adapters built once per Lambda container.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ecswatch.events.taskdef import TaskDefinition
from ecswatch.run import (
    FoundSchedule,
    LaunchResult,
    Lineage,
    LogTail,
    MemberState,
    MessageRef,
    RunRecord,
    ScheduleWatch,
    StormJoin,
    StormMember,
    TaskScan,
)

if TYPE_CHECKING:
    from ecswatch.events.task import TaskEvent, TaskRef
    from ecswatch.run import Alert, DatadogEvent, MetricPoint, RetryRequest, RunReport


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


class RunMetrics(Protocol):
    """Figures of runs (CloudWatch EMF): a stop's, once per report, and a start's, once per run."""

    def publish(self, report: RunReport) -> None:
        """The figures of a stop (run time, the run's count); nothing for a start."""
        ...

    def publish_start(self, report: RunReport) -> None:
        """Start latency and image pull time, from whichever report of the run carries them first."""
        ...


class ChatPoster(Protocol):
    """Slack, seen from the domain. Failures raise TransientError (after the client's own retries)."""

    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        """Post a message (a thread reply when ``thread`` is given). Webhooks return no ref.
        ``key``: the alert's key, carried in the message's metadata so :meth:`find` finds it."""
        ...

    def update(self, ref: MessageRef, alert: Alert) -> None: ...

    def find(
        self, channel: str, key: str, *, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """The message posted with ``key`` since ``since`` (a reply in ``thread`` when given), or None:
        not there, or not findable (a webhook; a token without the history scopes, logged). Raises
        TransientError when Slack cannot answer, DeliveryError when it refuses the lookup."""
        ...


class EventSink(Protocol):
    """Datadog, seen from the domain: one event per run, metric points sent in one call per batch."""

    def send_event(self, event: DatadogEvent) -> None: ...

    def add_points(self, points: list[MetricPoint]) -> None: ...

    def flush(self) -> int:
        """Submit the buffered points in one call; returns how many were sent."""
        ...


class NotificationState(Protocol):
    """Conditional writes that make Slack grouping and threading safe under at-least-once delivery
    and concurrent invocations (every read-modify-write is one conditional write)."""

    def join_storm(self, job: str, member: StormMember, window_seconds: int) -> StormJoin | None:
        """Join (or open) the job's window in the runs' own stop times; None: the run is too old
        for the open window (alone); ``ended``: the window must be shown and closed first."""
        ...

    def claim_storm_post(self, job: str, window_start: datetime, run_key: str, now: datetime) -> bool:
        """True for one caller at a time per window (a lease, taken over once expired): that one posts."""
        ...

    def set_storm_message(
        self, job: str, window_start: datetime, ref: MessageRef, shown: int
    ) -> StormJoin: ...

    def close_storm(self, storm: StormJoin) -> bool:
        """Archive a posted window unchanged since read; False when it changed (read and show again)."""
        ...

    def set_member_state(self, run_key: str, state: MemberState) -> StormJoin | None: ...

    def read_storm(self, job: str, window_start: datetime) -> StormJoin | None: ...

    def claim_storm_render(self, storm: StormJoin, by: str, now: datetime) -> StormJoin | None:
        """The window to render, for one renderer at a time, while its message is behind; else None."""
        ...

    def storm_shown(self, storm: StormJoin, by: str, *, rendered: bool) -> None: ...

    def storm_listed(self, storm: StormJoin, run_keys: Sequence[str]) -> None:
        """These members are named in the storm's thread now."""
        ...

    def thread_for(self, run_key: str) -> MessageRef | None: ...

    def save_thread(self, run_key: str, ref: MessageRef) -> None: ...

    def intend_post(self, key: str, channel: str, now: datetime, *, within: int) -> datetime | None:
        """Record, before posting, that the alert ``key`` is about to be posted to ``channel``. Returns
        when an earlier attempt intended the same less than ``within`` seconds ago (it may have
        posted: look before posting again), else None."""
        ...


class OnceGuard(Protocol):
    """Run an action at most once per key across redeliveries; a failed action may run again."""

    def once(self, key: str, action: Callable[[], None]) -> bool:
        """True if the action ran now, False if it had already completed for this key."""
        ...

    def register_lambda_context(self, context: Any) -> None: ...


class TaskRunner(Protocol):
    def run(self, request: RetryRequest) -> LaunchResult:
        """Start the task. Throttling and capacity shortages raise TransientError (try again later);
        a refusal that will not pass by waiting (bad subnet, inactive revision) comes back as ``failure``."""
        ...


class TaskReader(Protocol):
    def task_event(self, task_arn: str) -> TaskEvent | None:
        """The task as DescribeTasks reads it, as its Task State Change event; None when ECS no longer
        knows it. Raises MalformedEvent for what is not a task ARN."""
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


class LineageStore(Protocol):
    def lineage_of(self, task_arn: str) -> Lineage | None: ...

    def record_lineage(self, task_arn: str, lineage: Lineage) -> None: ...


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


class LiveTasks(Protocol):
    def scan(self) -> TaskScan:
        """Every task of every watched cluster whose desired status is RUNNING."""
        ...

    def stop(self, task: TaskRef, reason: str) -> None:
        """StopTask with that reason; a task already gone is not an error."""
        ...


class ScheduleFinder(Protocol):
    def find(self, started_by: str) -> FoundSchedule | None:
        """The schedule behind a job's ``match.started_by`` (``events-rule/<rule>`` or
        ``chronos-schedule/<schedule>``), or None when it names none (logged). Raises
        :class:`DeliveryError` when it may not be read (a refusal the configuration must end)."""
        ...


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
