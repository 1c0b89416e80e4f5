"""The value types every capability shares: a run report and its phase and outcome, durations,
links, the log tail, an attempt and its chain link, the alert and Datadog shapes, storm and thread
references, lineage, history records, and what the watchdog reads.

Frozen values and enums only, with no behaviour beyond derived properties, so any package
may depend on this module and it depends only on ``ecswatch.events`` (what AWS sent).

The values are ``msgspec.Struct`` classes (frozen, compared and hashed by their fields, like frozen
dataclasses): a dataclass compiles six methods from source when its module is imported, ~0.75 ms
each class, and the task-events function imports some sixty value types on every cold start;
a Struct's are built in C (~0.08 ms). Copy one with ``msgspec.structs.replace``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from ecswatch.events.task import TaskEvent
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.events.vocabulary import CHAIN_PREFIX, CHAIN_TRIGGER, RETRY_PREFIX, STARTED_BY_LIMIT


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OUT_OF_MEMORY = "out_of_memory"
    FAILED_TO_START = "failed_to_start"
    SPOT_INTERRUPTED = "spot_interrupted"
    STOPPED_BY_USER = "stopped_by_user"
    TIMED_OUT = "timed_out"
    INFRASTRUCTURE = "infrastructure"
    STOPPED_BY_SCHEDULER = "stopped_by_scheduler"

    @property
    def is_failure(self) -> bool:
        return self is not Outcome.SUCCEEDED

    @property
    def severity(self) -> str:
        """success / warning / error, the words Datadog's alert_type and Slack colours use."""
        if self is Outcome.SUCCEEDED:
            return "success"
        if self in _WARNING_OUTCOMES:
            return "warning"
        return "error"

    @property
    def label(self) -> str:
        return _LABELS[self]


_WARNING_OUTCOMES = frozenset(
    {Outcome.STOPPED_BY_USER, Outcome.SPOT_INTERRUPTED, Outcome.STOPPED_BY_SCHEDULER}
)


_LABELS = {
    Outcome.SUCCEEDED: "succeeded",
    Outcome.FAILED: "failed",
    Outcome.OUT_OF_MEMORY: "out of memory",
    Outcome.FAILED_TO_START: "failed to start",
    Outcome.SPOT_INTERRUPTED: "spot interrupted",
    Outcome.STOPPED_BY_USER: "stopped by a user",
    Outcome.TIMED_OUT: "timed out",
    Outcome.INFRASTRUCTURE: "stopped by infrastructure",
    Outcome.STOPPED_BY_SCHEDULER: "stopped by the service scheduler",
}


class PhaseDurations(msgspec.Struct, frozen=True):
    """Seconds per phase; None means unknown (a timestamp is missing or the clock went backwards)."""

    provisioning: float | None
    image_pull: float | None
    start_latency: float | None
    run_time: float | None
    stopping: float | None
    total: float | None


class LogLocation(msgspec.Struct, frozen=True):
    """Where a container's log lives in CloudWatch Logs."""

    region: str
    group: str
    stream: str


class Links(msgspec.Struct, frozen=True):
    task: str
    task_definition: str
    log_stream: str | None
    logs_insights: str | None
    log_missing_reason: str | None
    log_location: LogLocation | None


class RunPhase(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"


class Skipped(msgspec.Struct, frozen=True):
    """An event we deliberately do nothing with, and why (logged, never an error)."""

    reason: str
    kind: str


class RunReport(msgspec.Struct, frozen=True):
    """Everything on-call needs about one task at one point of its life."""

    phase: RunPhase
    event: TaskEvent
    job: str
    #: None while the task runs: a started task has no outcome yet.
    outcome: Outcome | None
    cause: str
    deciding_container: str | None
    exit_code: int | None
    durations: PhaseDurations
    links: Links
    log_tail: LogTail | None
    task_definition: TaskDefinition | None

    @property
    def is_failure(self) -> bool:
        return self.outcome is not None and self.outcome.is_failure

    @property
    def key(self) -> str:
        """What makes this report unique: one task, one phase. Duplicates share it."""
        return f"{self.event.task.arn}#{self.phase.value}"


_ICONS = {
    "success": ":white_check_mark:",
    "warning": ":warning:",
    "error": ":x:",
    "info": ":information_source:",
}


class ChainLink(msgspec.Struct, frozen=True):
    """A run's place in a dependency chain (``on_success``/``on_failure`` in the job config).

    ``chain_id`` ties every run of one chain together (a Datadog tag); ``triggered_by`` is the
    task ARN of the run whose end started this one, of job ``triggered_by_job``; ``starts`` are
    the jobs this run starts now that it has ended for good.
    """

    chain_id: str
    triggered_by: str | None = None
    triggered_by_job: str | None = None
    starts: tuple[str, ...] = ()


class RetryNote(msgspec.Struct, frozen=True):
    """What follows a stopped attempt, decided before its alert is sent, so the alert, the Datadog
    event and the history promise no retry that will not happen and say why none follows.

    ``text`` is the line they all show: "retry 2/3 follows in 1m30s", or "no retry: " and the
    reason ("no retry: exit 9 matched evaluate_on_exit[1] EXIT", "no retry: attempts used").
    """

    follows: bool
    text: str

    @classmethod
    def none_because(cls, why: str) -> RetryNote:
        return cls(follows=False, text=f"no retry: {why}")


class Attempt(msgspec.Struct, frozen=True):
    """Which try of a run this is (retries come from the retry policy); 1 of 1 without retries."""

    number: int = 1
    of: int = 1
    root_task_arn: str | None = None
    chain: ChainLink | None = None
    #: Whether a retry follows this attempt, once the retry decision is made (None before: a start,
    #: or news that does not know).
    retry: RetryNote | None = None

    @property
    def label(self) -> str:
        return f"{self.number}/{self.of}"


FIRST_ATTEMPT = Attempt()


class Link(msgspec.Struct, frozen=True):
    label: str
    url: str


class Alert(msgspec.Struct, frozen=True):
    """One message about one run, or about a storm of runs of one job."""

    run_key: str
    job: str
    title: str
    severity: str  # success | warning | error | info
    outcome: str
    cause: str
    fields: tuple[tuple[str, str], ...]
    links: tuple[Link, ...]
    log_tail: LogTail | None = None
    context: str = ""

    @property
    def icon(self) -> str:
        return _ICONS.get(self.severity, "")

    @property
    def fallback_text(self) -> str:
        """Plain text for notifications and clients that cannot show blocks."""
        return f"{self.title}: {self.cause}"


class DatadogEvent(msgspec.Struct, frozen=True):
    title: str
    text: str  # Datadog event markdown, wrapped in %%% by the adapter
    alert_type: str  # error | warning | success | info
    aggregation_key: str
    tags: tuple[str, ...]
    date_happened: int  # epoch seconds
    source_type_name: str = "amazon ecs"


class MetricPoint(msgspec.Struct, frozen=True):
    name: str
    value: float
    timestamp: int  # epoch seconds
    tags: tuple[str, ...]
    kind: str = "gauge"  # gauge | count
    unit: str | None = None


class MemberState(StrEnum):
    """Where one run of a storm stands now. The storm's title is its members' worst open state."""

    FAILED = "failed"  # failed, not (or no longer) retried: an open failure
    RETRYING = "retrying"
    RECOVERED = "recovered on retry"

    @property
    def rank(self) -> int:
        """Worse is higher: a failure outranks a retry in flight, which outranks a recovery."""
        return {MemberState.FAILED: 3, MemberState.RETRYING: 2, MemberState.RECOVERED: 1}[self]


class StormMember(msgspec.Struct, frozen=True):
    """One failed run in a storm: who it is, when it stopped (the run's own time), how it stands."""

    run_key: str
    label: str
    stopped: datetime
    cause: str
    state: MemberState = MemberState.FAILED
    #: Named in the storm's thread already (a storm past what its message can list names every
    #: run there once: see ``Notifier``).
    listed: bool = False


class StormState(msgspec.Struct, frozen=True):
    """Failures of one job inside one window, as the state store counts them.

    ``count`` counts every run (members stop being remembered past a limit; ``members`` holds
    those remembered, oldest first); ``since`` is the earliest member's own stop time."""

    job: str
    count: int
    window_start: datetime
    causes: tuple[str, ...] = ()
    members: tuple[StormMember, ...] = ()

    @property
    def since(self) -> datetime:
        return min((m.stopped for m in self.members), default=self.window_start)


class LogTail(msgspec.Struct, frozen=True):
    """The last lines of a container's log, already redacted and cut to size; or a note saying why not."""

    lines: tuple[str, ...] = ()
    note: str | None = None
    truncated: bool = False


class MessageRef(msgspec.Struct, frozen=True):
    """Where a Slack message lives, so it can be updated and threaded later.

    ``own`` is False when the message stands for a storm of runs: news about one run may
    go into its thread, but must not overwrite the storm's summary.
    """

    channel: str
    ts: str
    own: bool = True


class StormJoin(msgspec.Struct, frozen=True):
    """A job's failure window as the state store holds it, after a run joined it (or read it).

    ``count`` counts distinct runs (a redelivered run does not count twice); ``message`` is the
    Slack message standing for the window once posted. ``version`` grows with every join and
    every member's news; ``shown`` is the version the Slack message was last rendered from, so
    anyone may tell whether the message is behind. ``ended``: the window is over for the run
    that asked (it stopped a window or more later); the window must be shown in full and closed
    before that run opens the next one. ``closed``: the window was closed (archived) already.
    """

    job: str
    window_start: datetime
    count: int
    causes: tuple[str, ...]
    message: MessageRef | None
    is_new_member: bool
    version: int = 0
    shown: int = 0
    members: tuple[StormMember, ...] = ()
    ended: bool = False
    closed: bool = False
    #: When the message was last rendered (by anyone): end-of-invocation updates keep a gap.
    rendered_at: datetime | None = None

    @property
    def state(self) -> StormState:
        return StormState(
            job=self.job,
            count=self.count,
            window_start=self.window_start,
            causes=self.causes,
            members=self.members,
        )


class LaunchResult(msgspec.Struct, frozen=True):
    """RunTask's answer: the new task, or why ECS refused (``failures[].reason``/``detail``)."""

    task_arn: str | None = None
    failure: str | None = None


class Lineage(msgspec.Struct, frozen=True):
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


class RunRecord(msgspec.Struct, frozen=True):
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
    #: What followed this attempt, in its alert's words ("no retry: attempts used"); None when
    #: no decision was made (a running task, records written before it was kept).
    retry: str | None = None

    @property
    def is_running(self) -> bool:
        return self.outcome is None


class TaskScan(msgspec.Struct, frozen=True):
    """The tasks of the watched clusters that ECS has not stopped, read fresh, as task events.

    ``problems`` names clusters that could not be read (one line each): the rest are still checked.
    """

    tasks: tuple[TaskEvent, ...] = ()
    problems: tuple[str, ...] = ()


class FoundSchedule(msgspec.Struct, frozen=True):
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


class ScheduleWatch(msgspec.Struct, frozen=True):
    """What the watchdog keeps per scheduled job between invocations.

    ``watched_since``: no run is expected before it (a job added today was not due last night).
    ``missed``: the expected start the open missed-run alert is about, until the job runs again.
    """

    job: str
    watched_since: datetime
    missed: datetime | None = None


_NOT_STARTED_BY = re.compile(r"[^A-Za-z0-9_/-]")


class RetryRequest(msgspec.Struct, frozen=True):
    job: str
    root_task_arn: str
    previous_task_arn: str
    #: The attempt this request launches (2 for the first retry) and the most there will be.
    attempt: int
    of: int
    region: str
    cluster: str
    task_definition_arn: str
    launch_type: str | None = None
    capacity_provider: str | None = None
    platform_version: str | None = None
    group: str | None = None
    overrides: Mapping[str, Any] = msgspec.field(default_factory=dict)
    network_configuration: Mapping[str, Any] | None = None
    reason: str = ""
    #: "policy" for automatic retries, "manual" for `ecswatch retry`, "chain" for a dependency chain.
    trigger: str = "policy"
    #: RunTask's capacityProviderStrategy as the job config gives it (chains); wins over the above.
    capacity_provider_strategy: Sequence[Mapping[str, Any]] | None = None
    propagate_tags: str = "TASK_DEFINITION"
    #: The chain the launched run belongs to (``Lineage.chain_id``), carried through its retries.
    chain_id: str | None = None
    triggered_by: str | None = None
    triggered_by_job: str | None = None
    #: RunTask parameters no task event carries, sent again as recorded: a failed launch's
    #: placementConstraints, placementStrategy, enableExecuteCommand and its own tags.
    run_task_extras: Mapping[str, Any] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> str:
        """One launch per root run and attempt, whoever asks twice.

        A chain request starts ``job`` after the run whose root is ``root_task_arn``: once per
        (that run, job), however often that run's final stop is delivered or retried.
        """
        if self.trigger == CHAIN_TRIGGER:
            return chain_key(self.root_task_arn, self.job)
        return f"{self.root_task_arn}#{self.attempt}"

    @property
    def client_token(self) -> str:
        """RunTask's idempotency token (up to 64 characters): the same request never starts two tasks."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:64]

    @property
    def started_by(self) -> str:
        if self.trigger == CHAIN_TRIGGER:
            cleaned = _NOT_STARTED_BY.sub("_", self.triggered_by_job or "")
            return f"{CHAIN_PREFIX}/{cleaned}"[:STARTED_BY_LIMIT]
        return f"{RETRY_PREFIX}/{self.attempt}"[:128]

    def to_json(self) -> str:
        return json.dumps(msgspec.structs.asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> RetryRequest:
        data = json.loads(text) if isinstance(text, str | bytes) else dict(text)
        known = set(cls.__struct_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"retry request has unknown fields: {sorted(unknown)}")
        return cls(**data)


def chain_key(root_task_arn: str, job: str) -> str:
    """``chain#<root run of the job that ended>#<job to start>``: the once-key of one chain link."""
    return f"chain#{root_task_arn}#{job}"
