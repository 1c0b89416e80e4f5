"""decide -> act for one finished (or started) task: its attempt, the retry decision, the news.

The task-events function hands every run report to :meth:`TaskRunCoordinator.handle`.
Everything with an outside effect runs inside ``guard.once`` so duplicate and
out-of-order events never schedule, launch or announce a retry twice.

The Slack story of a run lives in the thread of its first alert:

* attempt 1 fails, policy says retry -> reply "retry 2/3 scheduled in 1m", parent "retrying"
* the launcher starts attempt 2 (:mod:`ecswatch.coordinators.launcher`) -> reply "attempt 2/3 started"
* attempt 2 succeeds -> reply "recovered on attempt 2/3", parent "recovered after 1 retry"
* attempt 3 fails for good -> reply "attempt 3/3 failed", parent "gave up after 3 attempts"
* the final attempt ends and the job has on_success/on_failure -> reply "starting B, C", and
  the launcher starts B and C as it starts retries (:mod:`ecswatch.coordinators.chain_starts`)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import msgspec

from ecswatch.config.model import JobConfig, JobsConfig, RetryAction
from ecswatch.coordinators.chain_starts import ChainStarter
from ecswatch.coordinators.shared import RunResult, jitter, network_for, retry_note
from ecswatch.effects import run_each
from ecswatch.errors import TransientError
from ecswatch.events.task import TaskEvent
from ecswatch.events.vocabulary import launched_by_ecswatch
from ecswatch.history.records import HistoryRecorder
from ecswatch.notifications import words
from ecswatch.notifications.alerts import alert_for
from ecswatch.notifications.notifier import Notifier
from ecswatch.notifications.render import human_duration
from ecswatch.ports import LineageStore, NetworkDiscovery, OnceGuard, RetryScheduler, RunSink
from ecswatch.retries.policy import RetryDecision, decide
from ecswatch.retries.request import request_from_event
from ecswatch.run import Alert, Attempt, Lineage, RunPhase, RunReport


class TaskRun(msgspec.Struct, frozen=True):
    """One report with what is resolved for it once, then handed to every step: the job's config
    (the job its lineage names, for a retry), its lineage, and its attempt (with its chain place)."""

    report: RunReport
    job: JobConfig
    lineage: Lineage | None
    attempt: Attempt

    @property
    def root_task_arn(self) -> str:
        return self.attempt.root_task_arn or self.report.event.task.arn


class TaskRunCoordinator:
    def __init__(
        self,
        *,
        notifier: Notifier,
        guard: OnceGuard,
        lineage: LineageStore,
        jobs: JobsConfig,
        chains: ChainStarter,
        scheduler: RetryScheduler | None = None,
        network: NetworkDiscovery | None = None,
        history: HistoryRecorder | None = None,
        sinks: Sequence[RunSink] = (),
        rng: random.Random | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._lineage = lineage
        self._jobs = jobs
        self._chains = chains
        self._scheduler = scheduler
        self._network = network
        self._history = history
        #: Sinks that see every delivery (the structured log line), with the job its lineage names.
        self._sinks = sinks
        #: Backoff jitter. By default seeded with the run's key, so a redelivery that tells of a
        #: retry already scheduled names the delay it was scheduled with.
        self._rng = rng

    def handle(self, report: RunReport) -> RunResult:
        """The sinks' log line, the alert, the retry (or the jobs the run's end starts), the history
        record: each a step of its own, all tried even when one fails (the first failure is raised)."""
        run = self._resolve(report)
        decision = None
        if run.report.phase is RunPhase.STOPPED and run.report.outcome is not None:
            decision = decide(
                run.report, run.job.retry, run.attempt.number, rng=jitter(self._rng, run.report.key)
            )
        chained = self._chains.link(run.report, run.job, run.lineage, run.attempt, decision)
        if decision is not None:
            # Decided before anything is published, so the alert, the Datadog event and the history
            # all say whether a retry follows, and why not.
            note = retry_note(decision, chained, scheduled=self._scheduler is not None)
            chained = msgspec.structs.replace(chained, retry=note)
        run = msgspec.structs.replace(run, attempt=chained)
        report, attempt = run.report, run.attempt
        steps: list[Callable[[], object]] = [_publishing(sink, report) for sink in self._sinks]
        steps.append(lambda: self._notifier.publish(report, attempt))
        if decision is not None:
            steps.append(lambda: self._after_stop(run, decision))
        history = self._history
        if history is not None:
            steps.append(lambda: history.record_run(report, attempt, job=run.job))
        run_each(steps)
        return RunResult(attempt=attempt, decision=decision, job=report.job)

    def _resolve(self, report: RunReport) -> TaskRun:
        """The run's job, once: the one its lineage names (a retry's startedBy need not match the
        job's rules), else the one the report names, else the job its event matches."""
        lineage = self._lineage_of(report.event)
        if lineage is not None and lineage.job != report.job:
            report = msgspec.structs.replace(report, job=lineage.job)
        job = self._jobs.job(report.job) or self._jobs.job_for(report.event)
        return TaskRun(report, job, lineage, _attempt(report, lineage, job))

    def _after_stop(self, run: TaskRun, decision: RetryDecision) -> None:
        key = run.report.key
        retry = decision.action is RetryAction.RETRY and self._scheduler is not None
        if retry:
            self._guard.once(f"retry#{key}", lambda: self._schedule(run, decision))
        if run.attempt.number > 1 or retry:
            self._guard.once(f"news#{key}", lambda: self._announce(run, decision, retry=retry))
        if not retry and run.attempt.chain is not None and run.attempt.chain.starts:
            self._chains.after_stop(run.report, run.attempt)

    def _schedule(self, run: TaskRun, decision: RetryDecision) -> None:
        assert self._scheduler is not None
        assert decision.next_attempt is not None
        event = run.report.event
        request = request_from_event(
            event,
            job=run.job.name,
            root_task_arn=run.root_task_arn,
            attempt=decision.next_attempt,
            of=run.attempt.of,
            network_configuration=network_for(event, run.job, run.lineage, self._network),
            reason=decision.reason,
            chain=run.attempt.chain,
        )
        self._scheduler.schedule(request, decision.delay_seconds or 0)

    def _announce(self, run: TaskRun, decision: RetryDecision, *, retry: bool) -> None:
        news, parent = _news(run.report, run.attempt, decision, retry=retry)
        threaded = self._notifier.follow_up(run.root_task_arn, news, update_parent=parent)
        if not threaded:
            # No thread to follow: a retry's result, or a first attempt whose alert Slack refused
            # (it is posted on redelivery, after this step's once-key is done): never lose the news.
            self._notifier.post(run.report.job, news)

    def _lineage_of(self, event: TaskEvent) -> Lineage | None:
        """Only tasks ecswatch launched (a retry or a chained job) have lineage: any other task is
        the first attempt of its own run, and costs no read."""
        if not launched_by_ecswatch(event.started_by):
            return None
        lineage = self._lineage.lineage_of(event.task.arn)
        if lineage is None:
            # The launcher records lineage right after RunTask answers; until it has, this task would
            # pass for the first attempt of a new run (a second alert, a second retry sequence).
            raise TransientError(f"lineage of {event.task.arn} is not recorded yet; retry later")
        return lineage


def _publishing(sink: RunSink, report: RunReport) -> Callable[[], None]:
    """One sink's delivery of the report: a step of its own, so a failing sink holds back no other."""
    return lambda: sink.publish(report)


def _attempt(report: RunReport, lineage: Lineage | None, job: JobConfig) -> Attempt:
    if lineage is None:
        return Attempt(number=1, of=job.retry.attempts, root_task_arn=report.event.task.arn)
    return Attempt(number=lineage.attempt, of=lineage.of, root_task_arn=lineage.root_task_arn)


def _news(
    report: RunReport, attempt: Attempt, decision: RetryDecision, *, retry: bool
) -> tuple[Alert, Alert]:
    """The thread reply about this attempt, and what the first alert should now say."""
    base = alert_for(report, attempt)
    job, retries = report.job, attempt.number - 1
    if not report.is_failure:
        return (
            msgspec.structs.replace(base, title=words.recovered_on(job, attempt.label), severity="success"),
            msgspec.structs.replace(base, title=words.recovered_after(job, retries), severity="success"),
        )
    if retry and decision.next_attempt is not None:
        wait = human_duration(float(decision.delay_seconds or 0))
        nxt = Attempt(number=decision.next_attempt, of=attempt.of).label
        return (
            msgspec.structs.replace(
                base,
                title=words.retry_scheduled(job, nxt, wait),
                severity="warning",
                cause=f"{report.cause} — {decision.reason}",
            ),
            msgspec.structs.replace(base, title=words.retrying(job, nxt), severity="warning"),
        )
    return (
        msgspec.structs.replace(base, title=words.attempt_failed(job, attempt.label, decision.reason)),
        msgspec.structs.replace(base, title=words.gave_up_after(job, attempt.number)),
    )
