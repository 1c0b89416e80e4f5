"""decide -> act for one finished (or started) run: its attempt, the retry decision, the news.

The task-events handler calls :meth:`RunCoordinator.handle` for every report and
the retry launcher calls :meth:`RunCoordinator.launch` for every retry request.
Everything with an outside effect runs inside ``guard.once`` so duplicate and
out-of-order events never schedule, launch or announce a retry twice.

The Slack story of a run lives in the thread of its first alert:

* attempt 1 fails, policy says retry -> reply "retry 2/3 scheduled in 1m", parent "retrying"
* the launcher starts attempt 2 -> reply "attempt 2/3 started"
* attempt 2 succeeds -> reply "recovered on attempt 2/3", parent "recovered after 1 retry"
* attempt 3 fails for good -> reply "attempt 3/3 failed", parent "gave up after 3 attempts"
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from common.alerts import Alert, Attempt, alert_for
from common.config import JobConfig, JobsConfig, RetryAction
from common.model import TaskEvent
from common.notify import Notifier
from common.pipeline import RunPhase, RunReport
from common.ports import (
    LaunchResult,
    Lineage,
    LineageStore,
    NetworkDiscovery,
    OnceGuard,
    RetryScheduler,
    TaskRunner,
)
from common.render import human_duration
from common.retry_policy import RetryDecision, decide
from common.retry_request import RetryRequest


@dataclass(frozen=True)
class RunResult:
    attempt: Attempt
    decision: RetryDecision | None


class RunCoordinator:
    def __init__(
        self,
        *,
        notifier: Notifier,
        guard: OnceGuard,
        lineage: LineageStore,
        jobs: JobsConfig,
        scheduler: RetryScheduler | None = None,
        runner: TaskRunner | None = None,
        network: NetworkDiscovery | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._lineage = lineage
        self._jobs = jobs
        self._scheduler = scheduler
        self._runner = runner
        self._network = network
        self._rng = rng or random.SystemRandom()

    # ------------------------------------------------------------------ task events

    def handle(self, report: RunReport) -> RunResult:
        lineage = self._lineage.lineage_of(report.event.task.arn)
        if lineage is not None and lineage.job != report.job:
            report = replace(report, job=lineage.job)  # a retry's startedBy need not match the job's rules
        job = self._job(report)
        attempt = _attempt(report, lineage, job)
        decision = None
        if report.phase is RunPhase.STOPPED and report.outcome is not None:
            decision = decide(report, job.retry, attempt.number, rng=self._rng)
        self._notifier.publish(report, attempt)
        if decision is not None:
            self._after_stop(report, job, attempt, decision, lineage)
        return RunResult(attempt=attempt, decision=decision)

    def _after_stop(
        self,
        report: RunReport,
        job: JobConfig,
        attempt: Attempt,
        decision: RetryDecision,
        lineage: Lineage | None,
    ) -> None:
        key = report.key
        retry = decision.action is RetryAction.RETRY and self._scheduler is not None
        if retry:
            self._guard.once(f"retry#{key}", lambda: self._schedule(report, job, attempt, decision, lineage))
        if attempt.number > 1 or retry:
            self._guard.once(f"news#{key}", lambda: self._announce(report, attempt, decision, retry=retry))

    def _schedule(
        self,
        report: RunReport,
        job: JobConfig,
        attempt: Attempt,
        decision: RetryDecision,
        lineage: Lineage | None,
    ) -> None:
        assert self._scheduler is not None
        assert decision.next_attempt is not None
        request = RetryRequest.from_event(
            report.event,
            job=job.name,
            root_task_arn=attempt.root_task_arn or report.event.task.arn,
            attempt=decision.next_attempt,
            of=attempt.of,
            network_configuration=self._network_for(report.event, job, lineage),
            reason=decision.reason,
        )
        self._scheduler.schedule(request, decision.delay_seconds or 0)

    def _announce(self, report: RunReport, attempt: Attempt, decision: RetryDecision, *, retry: bool) -> None:
        news, parent = _news(report, attempt, decision, retry=retry)
        root = attempt.root_task_arn or report.event.task.arn
        if not self._notifier.follow_up(root, news, update_parent=parent) and attempt.number > 1:
            self._notifier.post(report.job, news)  # no thread to follow: never lose a retry's result

    # ------------------------------------------------------------------ the launcher

    def launch(self, request: RetryRequest) -> LaunchResult | None:
        """Start the requested attempt once; None when a duplicate request already did."""
        results: list[LaunchResult] = []
        self._guard.once(f"launch#{request.key}", lambda: results.append(self._launch(request)))
        return results[0] if results else None

    def _launch(self, request: RetryRequest) -> LaunchResult:
        assert self._runner is not None, "the launcher needs a task runner"
        result = self._runner.run(
            request
        )  # TransientError propagates: SQS redelivers, RunTask's token dedupes
        attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
        if result.task_arn:
            lineage = Lineage(
                request.root_task_arn,
                request.attempt,
                request.of,
                request.job,
                network=request.network_configuration,
            )
            self._lineage.record_lineage(result.task_arn, lineage)
            news = _launch_news(request, attempt, f"attempt {attempt.label} started", "info", result.task_arn)
            self._notifier.follow_up(request.root_task_arn, news)
            return result
        why = result.failure or "RunTask started no task"
        self._tell(
            request,
            _launch_news(request, attempt, f"retry {attempt.label} could not be launched", "error", why),
        )
        return result

    def abandon(self, request: RetryRequest, error: str, tries: int) -> None:
        """The launcher's last try failed for a passing reason (capacity, throttling): say so once,
        in the run's thread, before the request goes to the retry dead-letter queue."""

        def alert() -> None:
            attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
            why = f"{error} (gave up after {tries} tries; the request is in the retry dead-letter queue)"
            news = _launch_news(
                request, attempt, f"retry {attempt.label} could not be launched", "error", why
            )
            self._tell(request, news)

        self._guard.once(f"abandon#{request.key}", alert)

    def _tell(self, request: RetryRequest, news: Alert) -> None:
        parent = replace(news, title=f"{request.job} gave up: {news.title.removeprefix(request.job + ' ')}")
        if not self._notifier.follow_up(request.root_task_arn, news, update_parent=parent):
            self._notifier.post(request.job, news)

    def manual_retry(self, event: TaskEvent) -> LaunchResult | None:
        """`ecswatch retry <task>`: the same parameters, the next attempt number, the same thread."""
        lineage = self._lineage.lineage_of(event.task.arn)
        job = self._jobs.job(lineage.job) if lineage else None
        job = job or self._jobs.job_for(event)
        number = (lineage.attempt if lineage else 1) + 1
        request = RetryRequest.from_event(
            event,
            job=job.name,
            root_task_arn=lineage.root_task_arn if lineage else event.task.arn,
            attempt=number,
            of=max(number, lineage.of if lineage else job.retry.attempts),
            network_configuration=self._network_for(event, job, lineage),
            reason="manual retry",
            trigger="manual",
        )
        return self.launch(request)

    # ------------------------------------------------------------------ helpers

    def _job(self, report: RunReport) -> JobConfig:
        return self._jobs.job(report.job) or self._jobs.job_for(report.event)

    def _network_for(
        self, event: TaskEvent, job: JobConfig, lineage: Lineage | None
    ) -> Mapping[str, Any] | None:
        """The job config wins; then the network that launched this attempt (retries and chains);
        then the EventBridge rule that started the first run."""
        if job.network is not None:
            return job.network.run_task_network_configuration()
        if lineage is not None and lineage.network is not None:
            return lineage.network
        if self._network is not None:
            return self._network.network_for(event.task.region, event.started_by)
        return None


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
        plural = "retry" if retries == 1 else "retries"
        return (
            replace(base, title=f"{job} recovered on attempt {attempt.label}", severity="success"),
            replace(base, title=f"{job} recovered after {retries} {plural}", severity="success"),
        )
    if retry and decision.next_attempt is not None:
        wait = human_duration(float(decision.delay_seconds or 0))
        nxt = Attempt(number=decision.next_attempt, of=attempt.of).label
        return (
            replace(
                base,
                title=f"{job}: retry {nxt} scheduled in {wait}",
                severity="warning",
                cause=f"{report.cause} — {decision.reason}",
            ),
            replace(base, title=f"{job} failed, retrying (attempt {nxt})", severity="warning"),
        )
    return (
        replace(base, title=f"{job} attempt {attempt.label} failed: {decision.reason}"),
        replace(base, title=f"{job} gave up after {attempt.number} attempts"),
    )


def _launch_news(request: RetryRequest, attempt: Attempt, title: str, severity: str, detail: str) -> Alert:
    return Alert(
        run_key=request.root_task_arn,
        job=request.job,
        title=f"{request.job} {title}",
        severity=severity,
        outcome="retrying",
        cause=detail,
        fields=(("Attempt", attempt.label), ("Trigger", request.trigger), ("Reason", request.reason or "-")),
        links=(),
    )
