"""The watchdog: what no task state change says. A run that goes on too long, a start that never
comes, a scheduled run that never happens.

A job that hangs or silently stops being scheduled is worse than one that fails loudly, and ECS
sends no event for either. So a scheduled function looks every five minutes:

* **Overruns.** A task of a configured job whose run time (since ``startedAt``) is more than the
  job's ``max_run_time``. Alerted once per task; with ``stop_on_overrun`` the task is also stopped
  with a reason starting ``ecswatch watchdog:``, which the pipeline reports as ``timed_out``.
* **Stuck starts.** A task still PROVISIONING, PENDING or ACTIVATING (no ``startedAt``) longer
  than the job's ``max_start_time`` or the deployment's threshold: the Fargate capacity and image
  pull problem. Alerted once per task, with how long it has waited. Any task, configured or not,
  as the pipeline reports any task.
* **Missed runs.** A scheduled job whose latest expected start is more than the grace period old
  with no run started since. The schedule comes from the job's config, or from the EventBridge rule
  or Scheduler schedule that ``match.started_by`` names. Alerted once ("expected at 02:00 UTC, not
  started by 02:10"); one alert per outage, not one per expected run, so a job on ``rate(5
  minutes)`` that stops does not page every five minutes; the next run that starts posts a
  recovery into that alert's thread.

Decisions are pure functions of data and ``now`` (``find_overruns``, ``find_stuck_starts``,
``check_schedule``); :class:`Watchdog` reads the data through ports and acts on each decision once
per key (``overrun#<task arn>``, ``stop#<task arn>``, ``stuck#<task arn>``,
``missed#<job>#<expected>``, ``recovered#<job>#<expected>``), so an invocation that runs again, or
the next one five minutes later, alerts nothing new.

When is a run expected? ``schedule.py`` evaluates the expression. Choices made here:

* No run is expected before the watchdog first saw the job (``watched_since``, kept in the state
  table): a job added at 14:00 with a 02:00 schedule was not due at 02:00 that day.
* ``rate(...)`` places runs from the schedule's start, which EventBridge rules do not expose. Then
  the watchdog expects the next run one period after the latest known start (or after
  ``watched_since``), which does not depend on the phase.
* A run "started" when the task-event pipeline recorded it in the run history (``started_at`` is
  the task's ``createdAt``), a launch that failed included (that failure was alerted on its own),
  or when a task of the job is alive right now (a start stuck in PENDING is alerted as a stuck
  start, not also as a missed run).
* A disabled rule or schedule expects nothing; one with an end date expects nothing after it; a
  Scheduler flexible time window is added to the grace period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.events.schedule import ScheduleError
from ecswatch.events.task import TaskEvent
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.events.vocabulary import launched_by_ecswatch
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import (
    LineageStore,
    LiveTasks,
    OnceGuard,
    RunHistory,
    ScheduleFinder,
    TaskDefinitions,
    WatchdogState,
)
from ecswatch.watchdog.alerts import (
    missed_alert,
    missed_datadog_event,
    missed_run_key,
    overrun_alert,
    recovery_alert,
    recovery_parent,
    stuck_alert,
    task_datadog_event,
)
from ecswatch.watchdog.decisions import (
    LAST_RUN_LOOKBACK,
    Expectation,
    LatestStart,
    MissedRun,
    Overrun,
    RanAgain,
    ScheduleVerdict,
    StuckStart,
    check_schedule,
    expectation_for,
    find_overruns,
    find_stuck_starts,
    job_of,
    names_a_schedule,
)

logger = Logger(child=True)


# --------------------------------------------------------------------------- decisions


# --------------------------------------------------------------------------- acting


@dataclass(frozen=True)
class WatchdogOptions:
    stuck_start_seconds: int = 600
    missed_run_grace_seconds: int = 600
    include_service_tasks: bool = False


@dataclass
class WatchdogResult:
    """What one invocation saw and did; ``problems`` lists what it could not do (it raises then)."""

    tasks: int = 0
    overruns: int = 0
    stopped: int = 0
    stuck: int = 0
    scheduled_jobs: int = 0
    missed: int = 0
    recovered: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "tasks": self.tasks,
            "overruns_alerted": self.overruns,
            "tasks_stopped": self.stopped,
            "stuck_starts_alerted": self.stuck,
            "scheduled_jobs": self.scheduled_jobs,
            "missed_runs_alerted": self.missed,
            "recoveries_posted": self.recovered,
            "problems": list(self.problems),
        }


class Watchdog:
    """Reads the live tasks and the schedules, decides, and acts once per key.

    Each action is tried even when an earlier one failed; the failures are listed in the result so
    the handler can fail the invocation (the errors alarm) after everything else was done.
    Without run history or state (no table) missed runs are not checked: there is nothing to
    compare the schedule with.
    """

    def __init__(
        self,
        *,
        jobs: JobsConfig,
        live: LiveTasks,
        notifier: Notifier,
        guard: OnceGuard,
        options: WatchdogOptions | None = None,
        task_definitions: TaskDefinitions | None = None,
        schedules: ScheduleFinder | None = None,
        history: RunHistory | None = None,
        state: WatchdogState | None = None,
        lineage: LineageStore | None = None,
    ) -> None:
        self._jobs = jobs
        self._live = live
        self._notifier = notifier
        self._guard = guard
        self._options = options or WatchdogOptions()
        self._task_definitions = task_definitions
        self._schedules = schedules
        self._history = history
        self._state = state
        self._lineage = lineage

    def register_lambda_context(self, context: object) -> None:
        self._notifier.register_lambda_context(context)

    def run(self, now: datetime) -> WatchdogResult:
        result = WatchdogResult()
        scan = self._live.scan()
        result.tasks = len(scan.tasks)
        result.problems.extend(scan.problems)
        options = self._options
        named = self._launched_by_ecswatch(scan.tasks, result)
        for overrun in find_overruns(
            scan.tasks, self._jobs, now, include_service_tasks=options.include_service_tasks, named=named
        ):
            self._overrun(overrun, now, result)
        for stuck in find_stuck_starts(
            scan.tasks,
            self._jobs,
            now,
            default_limit_seconds=options.stuck_start_seconds,
            include_service_tasks=options.include_service_tasks,
            named=named,
        ):
            self._stuck(stuck, now, result)
        if self._history is not None and self._state is not None:
            self._check_schedules(scan.tasks, now, result, self._history, self._state, named=named)
        return result

    def _launched_by_ecswatch(self, tasks: Iterable[TaskEvent], result: WatchdogResult) -> dict[str, str]:
        """Task ARN -> job of the live retries and chained runs (few: one lineage read each)."""
        named: dict[str, str] = {}
        if self._lineage is None:
            return named
        for task in tasks:
            if not launched_by_ecswatch(task.started_by):
                continue
            try:
                lineage = self._lineage.lineage_of(task.task.arn)
            except Exception as e:
                result.problems.append(f"{task.task.arn}: lineage not read: {e}")
                continue
            if lineage is not None:
                named[task.task.arn] = lineage.job
        return named

    # ------------------------------------------------------------------ tasks

    def _overrun(self, overrun: Overrun, now: datetime, result: WatchdogResult) -> None:
        task = overrun.task.task
        result.overruns += self._once(
            result, f"overrun#{task.arn}", lambda: self._alert_overrun(overrun, now)
        )
        if overrun.stop:
            stopped = self._once(
                result, f"stop#{task.arn}", lambda: self._live.stop(task, overrun.stop_reason)
            )
            result.stopped += stopped

    def _stuck(self, stuck: StuckStart, now: datetime, result: WatchdogResult) -> None:
        result.stuck += self._once(
            result, f"stuck#{stuck.task.task.arn}", lambda: self._alert_stuck(stuck, now)
        )

    def _alert_overrun(self, overrun: Overrun, now: datetime) -> None:
        taskdef = self._taskdef(overrun.task)
        alert = overrun_alert(overrun.job, overrun.task, taskdef, overrun.run_seconds, overrun.limit_seconds)
        event = task_datadog_event(alert, overrun.task, kind="overrun", at=now)
        self._notifier.notify_watchdog(f"overrun#{overrun.task.task.arn}", alert, event=event)

    def _alert_stuck(self, stuck: StuckStart, now: datetime) -> None:
        taskdef = self._taskdef(stuck.task)
        alert = stuck_alert(stuck.job, stuck.task, taskdef, stuck.waited_seconds, stuck.limit_seconds)
        event = task_datadog_event(alert, stuck.task, kind="stuck_start", at=now)
        self._notifier.notify_watchdog(f"stuck#{stuck.task.task.arn}", alert, event=event)

    def _taskdef(self, task: TaskEvent) -> TaskDefinition | None:
        if self._task_definitions is None:
            return None
        return self._task_definitions.get(task.task_definition.arn)

    # ------------------------------------------------------------------ schedules

    def _check_schedules(
        self,
        tasks: Iterable[TaskEvent],
        now: datetime,
        result: WatchdogResult,
        history: RunHistory,
        state: WatchdogState,
        *,
        named: Mapping[str, str] | None = None,
    ) -> None:
        try:
            watches = dict(state.schedule_watches())
        except Exception as e:
            result.problems.append(f"schedules not checked: cannot read the watchdog state: {e}")
            return
        alive = _alive_since(tasks, self._jobs, named)

        def latest_start(job: str, since: datetime) -> datetime | None:
            runs = history.runs(job, since=since, limit=1)
            starts = [run.started_at for run in runs]
            live = alive.get(job)
            if live is not None and live >= since:
                starts.append(live)
            return max(starts, default=None)

        grace = timedelta(seconds=self._options.missed_run_grace_seconds)
        for job in self._jobs.jobs:
            try:
                expectation = self._expectation(job, grace)
                if expectation is None:
                    continue
                result.scheduled_jobs += 1
                watch = watches.get(job.name) or state.start_watching(job.name, now)
                verdict = check_schedule(expectation, watch, latest_start, now)
            except Exception as e:  # one job's unreadable schedule must not hide the others'
                result.problems.append(f"{job.name}: schedule not checked: {e}")
                continue
            if verdict is not None:
                self._act_on(verdict, now, result, state, latest_start)

    def _expectation(self, job: JobConfig, grace: timedelta) -> Expectation | None:
        found = None
        if self._schedules is not None and job.match.started_by and names_a_schedule(job.match.started_by):
            found = self._schedules.find(job.match.started_by)
        try:
            return expectation_for(job, found, grace)
        except ScheduleError as e:
            raise ScheduleError(f"cannot read its schedule: {e}") from e

    def _act_on(
        self,
        verdict: ScheduleVerdict,
        now: datetime,
        result: WatchdogResult,
        state: WatchdogState,
        latest_start: LatestStart,
    ) -> None:
        job = verdict.expectation.job.name
        key = f"{job}#{verdict.expected.isoformat()}"
        if isinstance(verdict, RanAgain):
            problems = len(result.problems)
            posted = self._once(result, f"recovered#{key}", lambda: self._post_recovery(verdict, now))
            result.recovered += posted
            if len(result.problems) == problems:  # posted now or before: only then is the miss over
                self._try(result, lambda: state.close_miss(job, verdict.expected))
            return
        # A new miss is remembered first: if the alert then fails, the next invocation finds the
        # open miss and sends it (as StillMissing), instead of computing a later expected time.
        if isinstance(verdict, MissedRun) and not self._try(
            result, lambda: state.open_miss(job, verdict.expected)
        ):
            return
        missed = MissedRun(verdict.expectation, verdict.expected)
        alerted = self._once(result, f"missed#{key}", lambda: self._post_missed(missed, now, latest_start))
        result.missed += alerted

    def _post_missed(self, missed: MissedRun, now: datetime, latest_start: LatestStart) -> None:
        job = missed.expectation.job.name
        last = latest_start(job, missed.expected - LAST_RUN_LOOKBACK)
        alert = missed_alert(missed.expectation, missed.expected, last_started=last)
        event = missed_datadog_event(alert, missed.expectation, missed.expected, at=now)
        self._notifier.notify_watchdog(f"missed#{job}#{missed.expected.isoformat()}", alert, event=event)

    def _post_recovery(self, back: RanAgain, now: datetime) -> None:
        expectation, job = back.expectation, back.expectation.job.name
        alert = recovery_alert(expectation, back.expected, back.started_at)
        event = missed_datadog_event(alert, expectation, back.expected, at=now)
        self._notifier.notify_watchdog(
            f"recovered#{job}#{back.expected.isoformat()}",
            alert,
            event=event,
            reply_to=missed_run_key(job, back.expected),
            parent=recovery_parent(expectation, back.expected, back.started_at),
        )

    # ------------------------------------------------------------------ plumbing

    def _once(self, result: WatchdogResult, key: str, action: Callable[[], None]) -> bool:
        """True when the action ran now; a failure is listed, and the next invocation tries again."""
        try:
            return self._guard.once(key, action)
        except Exception as e:
            logger.exception("watchdog action failed", extra={"key": key})
            result.problems.append(f"{key}: {e}")
            return False

    @staticmethod
    def _try(result: WatchdogResult, action: Callable[[], None]) -> bool:
        try:
            action()
        except Exception as e:
            result.problems.append(str(e))
            return False
        return True


def _alive_since(
    tasks: Iterable[TaskEvent], jobs: JobsConfig, named: Mapping[str, str] | None = None
) -> Mapping[str, datetime]:
    """The newest ``createdAt`` of each configured job's live tasks."""
    newest: dict[str, datetime] = {}
    for task in tasks:
        job, created = job_of(task, jobs, named), task.timeline.created
        if job is not None and created is not None:
            newest[job.name] = max(created, newest.get(job.name, created))
    return newest
