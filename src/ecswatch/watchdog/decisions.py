"""The watchdog's decisions, as pure functions of what it read: which tasks overrun, which starts
are stuck, when a scheduled job was due and whether it ran. No AWS calls here: the pass in
``ecswatch.watchdog.service`` reads the service and the state, calls these, and acts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.events.schedule import Schedule, missed_run, parse_schedule
from ecswatch.events.task import TaskEvent
from ecswatch.events.vocabulary import RULE_PREFIX, SCHEDULE_PREFIX, WATCHDOG_STOP_REASON_PREFIX
from ecswatch.notifications.render import human_duration
from ecswatch.run import FoundSchedule, ScheduleWatch

#: Statuses of a task that ECS has accepted but not started (ECS task lifecycle).
WAITING_STATUSES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})


#: How far back a missed-run alert looks for the job's last run, to say when it last ran.
LAST_RUN_LOOKBACK = timedelta(days=31)


#: StopTask's reason is shown in the console and the stop event; keep it to a line.
STOP_REASON_LIMIT = 255


@dataclass(frozen=True)
class Overrun:
    job: JobConfig
    task: TaskEvent
    run_seconds: float
    limit_seconds: int

    @property
    def stop(self) -> bool:
        return self.job.stop_on_overrun

    @property
    def stop_reason(self) -> str:
        """Starts with the prefix ``analysis`` reads back as "timed out"."""
        text = (
            f"{WATCHDOG_STOP_REASON_PREFIX} exceeded max run time {human_duration(self.limit_seconds)}"
            f" (ran {human_duration(self.run_seconds)})"
        )
        return text[:STOP_REASON_LIMIT]


@dataclass(frozen=True)
class StuckStart:
    job: JobConfig
    task: TaskEvent
    waited_seconds: float
    limit_seconds: int


def is_watched_task(task: TaskEvent, *, include_service_tasks: bool) -> bool:
    """Tasks meant to run, of the kinds the pipeline reports (service tasks only when asked)."""
    if task.desired_status != "RUNNING":
        return False
    return include_service_tasks or not task.is_service_task


def job_of(task: TaskEvent, jobs: JobsConfig, named: Mapping[str, str] | None = None) -> JobConfig | None:
    """The configured job of a task: from its lineage when ecswatch launched it (``named``, task ARN
    -> job: a retry's startedBy no longer matches the job's rules), else from the match rules."""
    name = (named or {}).get(task.task.arn)
    return jobs.job(name) if name is not None else jobs.match(task)


def find_overruns(
    tasks: Iterable[TaskEvent],
    jobs: JobsConfig,
    now: datetime,
    *,
    include_service_tasks: bool = False,
    named: Mapping[str, str] | None = None,
) -> list[Overrun]:
    """Running tasks of configured jobs whose run time is more than the job's max_run_time.

    Exactly at the limit is still on time, like the config's other thresholds.
    """
    found = []
    for task in tasks:
        started = task.timeline.started
        if started is None or not is_watched_task(task, include_service_tasks=include_service_tasks):
            continue
        job = job_of(task, jobs, named)
        if job is None or job.max_run_time_seconds is None:
            continue
        ran = (now - started).total_seconds()
        if ran > job.max_run_time_seconds:
            found.append(Overrun(job, task, ran, job.max_run_time_seconds))
    return found


def find_stuck_starts(
    tasks: Iterable[TaskEvent],
    jobs: JobsConfig,
    now: datetime,
    *,
    default_limit_seconds: int,
    include_service_tasks: bool = False,
    named: Mapping[str, str] | None = None,
) -> list[StuckStart]:
    """Tasks created but not started for longer than their job's max_start_time (or the default)."""
    found = []
    for task in tasks:
        created = task.timeline.created
        if (
            created is None
            or task.timeline.started is not None
            or task.last_status not in WAITING_STATUSES
            or not is_watched_task(task, include_service_tasks=include_service_tasks)
        ):
            continue
        job = job_of(task, jobs, named) or jobs.job_for(task)
        limit = job.max_start_time_seconds or default_limit_seconds
        waited = (now - created).total_seconds()
        if waited > limit:
            found.append(StuckStart(job, task, waited, limit))
    return found


@dataclass(frozen=True)
class Expectation:
    """A job's schedule as the watchdog holds it to."""

    job: JobConfig
    schedule: Schedule
    #: Where the schedule came from, for alerts: "jobs config", "EventBridge rule nightly-report-0200".
    source: str
    grace: timedelta
    #: The schedule's own start and end (Scheduler's StartDate and EndDate), when known.
    start: datetime | None = None
    end: datetime | None = None


def expectation_for(job: JobConfig, found: FoundSchedule | None, grace: timedelta) -> Expectation | None:
    """The job's expected schedule: its config's ``schedule``, else the one found for ``started_by``.

    A disabled rule or schedule expects nothing, even when the config names a schedule: someone
    turned it off on purpose. Raises :class:`ScheduleError` for an expression that cannot be read.
    """
    if found is not None and not found.enabled:
        return None
    if job.schedule:
        return Expectation(job, parse_schedule(job.schedule), "jobs config", grace)
    if found is None:
        return None
    return Expectation(
        job,
        parse_schedule(found.expression, timezone=found.timezone),
        found.source,
        grace + timedelta(seconds=found.flexible_window_seconds),
        start=found.start,
        end=found.end,
    )


def names_a_schedule(started_by: str | None) -> bool:
    return bool(started_by) and str(started_by).startswith((RULE_PREFIX, SCHEDULE_PREFIX))


@dataclass(frozen=True)
class MissedRun:
    expectation: Expectation
    expected: datetime


@dataclass(frozen=True)
class StillMissing:
    """An open missed run with no start since: the alert is already out (or is retried)."""

    expectation: Expectation
    expected: datetime


@dataclass(frozen=True)
class RanAgain:
    expectation: Expectation
    expected: datetime
    started_at: datetime


def check_schedule(
    expectation: Expectation, watch: ScheduleWatch, latest_start: LatestStart, now: datetime
) -> ScheduleVerdict | None:
    """Whether the job missed a run, still misses it, or ran again after missing one; None if on time."""
    job = expectation.job.name
    if watch.missed is not None:
        started = latest_start(job, watch.missed)
        if started is not None:
            return RanAgain(expectation, watch.missed, started)
        return StillMissing(expectation, watch.missed)
    expected = _due(expectation, watch, latest_start, now)
    if expected is None or latest_start(job, expected) is not None:
        return None
    return MissedRun(expectation, expected)


def _due(
    expectation: Expectation, watch: ScheduleWatch, latest_start: LatestStart, now: datetime
) -> datetime | None:
    """The latest start that should have happened more than the grace period ago, if any."""
    schedule, grace = expectation.schedule, expectation.grace
    if schedule.needs_anchor and expectation.start is None:
        # rate() with an unknown phase: one period after the latest start since watching began.
        since = latest_start(expectation.job.name, watch.watched_since) or watch.watched_since
        expected = schedule.next_after(since, anchor=since)
        return expected if expected is not None and now > expected + grace else None
    # The schedule's own start fixes a rate's phase; for cron and at() it only bounds, as
    # watched_since does, so the later of the two is the anchor.
    anchor = expectation.start if schedule.needs_anchor else _latest(expectation.start, watch.watched_since)
    expected = missed_run(schedule, last_started=None, now=now, grace=grace, anchor=anchor)
    if expected is None or expected < watch.watched_since:
        return None
    if expectation.end is not None and expected > expectation.end:
        return None
    return expected


def _latest(*moments: datetime | None) -> datetime:
    return max(m for m in moments if m is not None)


#: ``latest_start(job, since)``: the newest start of the job at or after ``since``, or None.
LatestStart = Callable[[str, datetime], "datetime | None"]


ScheduleVerdict = MissedRun | StillMissing | RanAgain
