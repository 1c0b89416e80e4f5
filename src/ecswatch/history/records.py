"""Run history: what a run report becomes in the history, what is usual for a job, and when a run is slow.

People who answer questions ("did the export run on the 3rd? how long does it usually take?") need
every run kept, not only the ones that alerted. The task-events function records each report here
(one write per event, see ``ecswatch.adapters.dynamodb.history``) and the ``ecswatch`` CLI reads it back.

Sudden slowness is how batch jobs announce trouble before they fail, so a successful stop is also
compared with the job's usual run time:

* *usual* is the median run time of the job's last :data:`SLOW_RUN_WINDOW` successful runs that
  started before this one (so the verdict does not depend on the order events are processed in);
* there is no verdict until at least :data:`SLOW_RUN_MIN_RUNS` such runs exist;
* a run is slow when its run time is **strictly greater** than ``factor`` x the median: exactly at
  the factor is still usual, like the config's other thresholds ("more than", never "at least").

A slow run sends one Datadog warning event (key ``slow#<task arn>``) and, when the job's
``slow_run.notify_slack`` is set, one Slack note (key ``slow#<task arn>#slack``): in the run's thread
when it has one, else in the job's channel. Separate keys, so a Slack outage retried by SQS does not
send the Datadog event twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import msgspec

from ecswatch.analysis.failed_launch import FAILED_TO_LAUNCH, FailedLaunch
from ecswatch.config.model import JobConfig, JobsConfig, SlowRunConfig
from ecswatch.effects import run_each
from ecswatch.notifications import words
from ecswatch.notifications.alerts import alert_for, event_markdown, tags_for
from ecswatch.notifications.launch_alerts import (
    launch_links,
)
from ecswatch.notifications.notifier import Notifier
from ecswatch.notifications.render import human_duration
from ecswatch.ports import EventSink, OnceGuard, RunHistory
from ecswatch.run import (
    FIRST_ATTEMPT,
    Alert,
    Attempt,
    DatadogEvent,
    Outcome,
    PhaseDurations,
    RunPhase,
    RunRecord,
    RunReport,
)

SLOW_RUN_WINDOW = 20
SLOW_RUN_MIN_RUNS = 5
#: How many of a job's latest runs (any outcome) the slow-run check reads: one Query page of
#: ``DynamoRunHistory`` (its PAGE_SIZE; a test holds the two together).
SLOW_RUN_READ = 50
SUCCEEDED = Outcome.SUCCEEDED.value

#: RunRecord.durations keys, from PhaseDurations fields.
DURATION_KEYS: Mapping[str, str] = {
    "provisioning": "provisioning",
    "pull": "image_pull",
    "start_latency": "start_latency",
    "run": "run_time",
    "stopping": "stopping",
    "total": "total",
}


# --------------------------------------------------------------------------- report -> record


def run_record(report: RunReport, attempt: Attempt = FIRST_ATTEMPT, *, job: str | None = None) -> RunRecord:
    """The history's view of one report. RUNNING and STOPPED of one task give the same key
    (job, created-at, task ARN), so the stop's record replaces the start's."""
    event, links = report.event, report.links
    stopped = report.phase is RunPhase.STOPPED
    location = links.log_location
    return RunRecord(
        job=job or report.job,
        run_id=event.task.arn,
        cluster=event.task.cluster or "default",
        region=event.task.region,
        started_at=run_started_at(report),
        stopped_at=(event.timeline.stopped or event.event_time) if stopped else None,
        outcome=report.outcome.value if report.outcome is not None else None,
        cause=report.cause if stopped else "",
        exit_code=report.exit_code,
        attempt=attempt.number,
        attempts_of=attempt.of,
        root_run_id=attempt.root_task_arn,
        durations=durations_of(report.durations),
        links=_links(report),
        task_started_at=event.timeline.started,
        log_region=location.region if location else None,
        log_group=location.group if location else None,
        log_stream=location.stream if location else None,
        log_note=links.log_missing_reason,
        retry=attempt.retry.text if attempt.retry is not None and report.is_failure else None,
    )


def run_started_at(report: RunReport) -> datetime:
    """createdAt: when the run was asked for, which every event of the task carries the same.

    Falls back to the next timestamps only for events that lack it (then a RUNNING and a STOPPED
    record of one task could land under two keys; real events always carry createdAt).
    """
    t = report.event.timeline
    for moment in (t.created, t.pull_started, t.started, report.event.event_time, t.stopped):
        if moment is not None:
            return moment.astimezone(UTC)
    raise ValueError(f"task {report.event.task.arn} has no timestamp at all")


def durations_of(d: PhaseDurations) -> dict[str, float | None]:
    return {key: getattr(d, field) for key, field in DURATION_KEYS.items()}


def _links(report: RunReport) -> dict[str, str]:
    links = report.links
    found = {
        "task": links.task,
        "task_definition": links.task_definition,
        "logs": links.log_stream,
        "insights": links.logs_insights,
    }
    return {name: url for name, url in found.items() if url}


def run_time(run: RunRecord) -> float | None:
    return (run.durations or {}).get("run")


def start_latency(run: RunRecord) -> float | None:
    return (run.durations or {}).get("start_latency")


# --------------------------------------------------------------------------- what is usual


class RunStats(msgspec.Struct, frozen=True):
    """Run time of a job's recent successful runs; None where there are no runs to say."""

    count: int
    median: float | None
    p95: float | None


def usual_run_time(runs: Iterable[RunRecord], *, window: int = SLOW_RUN_WINDOW) -> RunStats:
    """Median and p95 of the newest ``window`` successful runs with a known run time.

    ``runs`` must be newest first (as the history returns them). The p95 is the nearest-rank one
    (the smallest value at or above 95 % of the others): with 20 runs it is the second largest, a
    real run time rather than an interpolation between two.
    """
    times = [t for t in (run_time(r) for r in runs if r.outcome == SUCCEEDED) if t is not None][:window]
    if not times:
        return RunStats(count=0, median=None, p95=None)
    ordered = sorted(times)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return RunStats(count=len(ordered), median=median, p95=p95)


class SlowRun(msgspec.Struct, frozen=True):
    """A successful run that took more than ``factor`` x the job's usual run time."""

    run_time: float
    usual: RunStats
    factor: float

    @property
    def median(self) -> float:
        assert self.usual.median is not None
        return self.usual.median

    @property
    def ratio(self) -> float:
        return self.run_time / self.median


def slow_run(
    run: RunRecord,
    previous: Sequence[RunRecord],
    *,
    factor: float,
    window: int = SLOW_RUN_WINDOW,
    min_runs: int = SLOW_RUN_MIN_RUNS,
) -> SlowRun | None:
    """The verdict on one run against the runs before it (newest first); None when not slow or
    when there is too little history to say. The run itself is never part of its own baseline."""
    took = run_time(run)
    if run.outcome != SUCCEEDED or took is None:
        return None
    usual = usual_run_time((r for r in previous if r.run_id != run.run_id), window=window)
    if usual.count < min_runs or usual.median is None or usual.median <= 0:
        return None  # a zero median has no "times": sub-second jobs are not judged
    if took > factor * usual.median:
        return SlowRun(run_time=took, usual=usual, factor=factor)
    return None


# --------------------------------------------------------------------------- the warning


def slow_run_alert(report: RunReport, attempt: Attempt, job: str, slow: SlowRun) -> Alert:
    base = alert_for(report, attempt)
    return Alert(
        run_key=base.run_key,
        job=job,
        title=words.ran_slow(job, human_duration(slow.run_time), human_duration(slow.median)),
        severity="warning",
        outcome="slow",
        cause=_slow_cause(slow),
        fields=(
            ("Run time", human_duration(slow.run_time)),
            ("Usual (median)", human_duration(slow.median)),
            ("p95", human_duration(slow.usual.p95)),
            ("Attempt", attempt.label),
        ),
        links=base.links,
        context=base.context,
    )


def slow_run_event(report: RunReport, attempt: Attempt, job: str, slow: SlowRun) -> DatadogEvent:
    alert = slow_run_alert(report, attempt, job, slow)
    stopped = report.event.timeline.stopped or report.event.event_time
    root = attempt.root_task_arn or report.event.task.arn
    return DatadogEvent(
        title=alert.title,
        text=event_markdown(alert),
        alert_type="warning",
        # The run's own key (alerts._aggregation_key): Datadog shows the warning with the run.
        aggregation_key=f"ecswatch:{job}:{root.rsplit('/', 1)[-1]}"[:100],
        tags=(*tags_for(report, attempt), "ecswatch_warning:slow_run"),
        date_happened=int(stopped.timestamp()) if stopped else 0,
    )


def _slow_cause(slow: SlowRun) -> str:
    return (
        f"run time {human_duration(slow.run_time)} is {slow.ratio:.1f}x the median of the last "
        f"{slow.usual.count} successful runs (warns above {slow.factor:g}x)"
    )


# --------------------------------------------------------------------------- recording


class Recorded(msgspec.Struct, frozen=True):
    run: RunRecord
    slow: SlowRun | None = None


class HistoryRecorder:
    """Records every report (and every ready record, such as a failed launch) and warns of slow runs."""

    def __init__(
        self,
        *,
        history: RunHistory,
        jobs: JobsConfig,
        guard: OnceGuard,
        events: EventSink | None = None,
        notifier: Notifier | None = None,
        lookback: timedelta = timedelta(days=90),
    ) -> None:
        self._history = history
        self._jobs = jobs
        self._guard = guard
        self._events = events
        self._notifier = notifier
        self._lookback = lookback

    @property
    def history(self) -> RunHistory:
        return self._history

    def record(self, run: RunRecord) -> None:
        """A record built elsewhere (a failed launch from CloudTrail): stored as it is."""
        self._history.record(run)

    def record_run(
        self, report: RunReport, attempt: Attempt = FIRST_ATTEMPT, *, job: JobConfig | None = None
    ) -> Recorded:
        """One write; on a successful stop also one read of the job's recent successes.

        ``job`` is the job the coordinator resolved for the run (for a retry, the one its lineage
        names): its name keys the record and its ``slow_run`` settings judge it. Without it, the
        report's job is looked up by name.
        """
        run = run_record(report, attempt, job=job.name if job is not None else None)
        self._history.record(run)
        if report.phase is not RunPhase.STOPPED or run.outcome != SUCCEEDED:
            return Recorded(run)
        config = job.slow_run if job is not None else self._slow_config(run.job)
        slack = self._notifier is not None and config.notify_slack
        if self._events is None and not slack:
            return Recorded(run)  # nobody to tell: spare the read
        # One page of the job's latest runs, successes picked here: filtering on outcome in the
        # Query would make DynamoDB apply the limit before the filter and page back through every
        # failure of a job that mostly fails. A job with fewer successes among them has less to
        # compare with (and no verdict under SLOW_RUN_MIN_RUNS).
        latest = self._history.runs(
            run.job, since=run.started_at - self._lookback, until=run.started_at, limit=SLOW_RUN_READ
        )
        previous = [r for r in latest if r.outcome == SUCCEEDED][: SLOW_RUN_WINDOW + 1]  # + 1: itself
        slow = slow_run(run, previous, factor=config.factor)
        if slow is not None:
            self._warn(report, attempt, run, slow, slack=slack)
        return Recorded(run, slow)

    def _slow_config(self, job: str) -> SlowRunConfig:
        configured = self._jobs.job(job)
        return configured.slow_run if configured is not None else SlowRunConfig()

    def _warn(
        self, report: RunReport, attempt: Attempt, run: RunRecord, slow: SlowRun, *, slack: bool
    ) -> None:
        key = f"slow#{run.run_id}"
        steps: list[Callable[[], object]] = []
        events, notifier = self._events, self._notifier
        if events is not None:
            event = slow_run_event(report, attempt, run.job, slow)
            steps.append(partial(self._guard.once, key, lambda: events.send_event(event)))
        if slack and notifier is not None:
            note = partial(self._note, notifier, report, attempt, run, slow)
            steps.append(partial(self._guard.once, f"{key}#slack", note))
        run_each(steps)  # both tried even when one fails, like Notifier.publish

    @staticmethod
    def _note(notifier: Notifier, report: RunReport, attempt: Attempt, run: RunRecord, slow: SlowRun) -> None:
        notifier.reply_or_post(
            attempt.root_task_arn or run.run_id, slow_run_alert(report, attempt, run.job, slow)
        )


#: RunRecord link names (as ecswatch.history.records names a task's: task, task_definition, logs, insights).
_LINK_KEYS = {
    "CloudTrail event": "cloudtrail",
    "EventBridge rule": "rule",
    "Task definition": "task_definition",
}


def launch_record(failed: FailedLaunch, attempt: Attempt) -> RunRecord:
    """The history's view: a run that started and ended at the call, with AWS's reason as cause."""
    launch = failed.launch
    return RunRecord(
        job=failed.job,
        run_id=failed.run_id,
        cluster=launch.cluster or "default",
        region=launch.region,
        started_at=failed.happened_at,
        stopped_at=failed.happened_at,
        outcome=FAILED_TO_LAUNCH,
        cause=failed.cause,
        attempt=attempt.number,
        attempts_of=attempt.of,
        root_run_id=attempt.root_task_arn or failed.run_id,
        links={_LINK_KEYS[link.label]: link.url for link in launch_links(failed)},
        log_note="no task was created, so there is no log",
        retry=attempt.retry.text if attempt.retry is not None else None,
    )
