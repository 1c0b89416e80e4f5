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
* the final attempt ends and the job has on_success/on_failure -> reply "starting B, C", and
  the launcher starts B and C as it starts retries (see :mod:`ecswatch.chains.links`)
* a run that ends with no task stopping (a failed launch not retried, a retry ECS refuses or the
  launcher abandons) -> its on_failure jobs start the same way: reply "A failed: starting C"
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from ecswatch.analysis.failed_launch import FailedLaunch, job_for_launch
from ecswatch.chains.links import (
    RunEnd,
    chain_link,
    chain_of,
    failed_end,
    failed_retry_end,
    launch_requests,
    lineage_of_chained,
    next_jobs,
    not_started_news,
    run_end,
    starting_news,
)
from ecswatch.config.model import JobConfig, JobsConfig, RetryAction
from ecswatch.effects import run_each
from ecswatch.errors import DeliveryError, LaunchNotStarted, TransientError
from ecswatch.events.task import TaskEvent
from ecswatch.events.vocabulary import CHAIN_TRIGGER, launched_by_ecswatch
from ecswatch.history.records import HistoryRecorder, launch_record
from ecswatch.notifications.alerts import alert_for
from ecswatch.notifications.launch_alerts import launch_alert, launch_datadog_event, launch_metric_points
from ecswatch.notifications.notifier import Notifier
from ecswatch.notifications.render import human_duration
from ecswatch.ports import LineageStore, NetworkDiscovery, OnceGuard, RetryScheduler, RunSink, TaskRunner
from ecswatch.retries.policy import RetryDecision, backoff_delay, decide
from ecswatch.retries.request import request_from_event, retry_request_for_launch
from ecswatch.run import Alert, Attempt, LaunchResult, Lineage, RetryRequest, RunPhase, RunReport

logger = Logger(child=True)


@dataclass(frozen=True)
class RunResult:
    attempt: Attempt
    decision: RetryDecision | None
    #: The run's job as lineage names it (a retry's own startedBy need not match the job's rules).
    job: str | None = None


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
        history: HistoryRecorder | None = None,
        sinks: Sequence[RunSink] = (),
        rng: random.Random | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._lineage = lineage
        self._jobs = jobs
        self._scheduler = scheduler
        self._runner = runner
        self._network = network
        self._history = history
        #: Sinks that see every delivery (the structured log line), with the job its lineage names.
        self._sinks = sinks
        #: Backoff jitter. By default seeded with the run's key, so a redelivery that tells of a
        #: retry already scheduled names the delay it was scheduled with.
        self._rng = rng

    # ------------------------------------------------------------------ task events

    def handle(self, report: RunReport) -> RunResult:
        lineage = self._lineage_of(report.event)
        if lineage is not None and lineage.job != report.job:
            report = replace(report, job=lineage.job)  # a retry's startedBy need not match the job's rules
        job = self._job(report)
        attempt = _attempt(report, lineage, job)
        decision = None
        if report.phase is RunPhase.STOPPED and report.outcome is not None:
            decision = decide(report, job.retry, attempt.number, rng=self._jitter(report.key))
        attempt = self._in_chain(report, job, lineage, attempt, decision)
        steps: list[Callable[[], object]] = [partial(sink.publish, report) for sink in self._sinks]
        steps.append(partial(self._notifier.publish, report, attempt))
        if decision is not None:
            steps.append(partial(self._after_stop, report, job, attempt, decision, lineage))
        if self._history is not None:
            steps.append(partial(self._history.record_run, report, attempt, job=report.job))
        run_each(steps)
        return RunResult(attempt=attempt, decision=decision, job=report.job)

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
        if not retry and attempt.chain is not None and attempt.chain.starts:
            self._start_chain(report, attempt)

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
        request = request_from_event(
            report.event,
            job=job.name,
            root_task_arn=attempt.root_task_arn or report.event.task.arn,
            attempt=decision.next_attempt,
            of=attempt.of,
            network_configuration=self._network_for(report.event, job, lineage),
            reason=decision.reason,
            chain=attempt.chain,
        )
        self._scheduler.schedule(request, decision.delay_seconds or 0)

    def _announce(self, report: RunReport, attempt: Attempt, decision: RetryDecision, *, retry: bool) -> None:
        news, parent = _news(report, attempt, decision, retry=retry)
        root = attempt.root_task_arn or report.event.task.arn
        if not self._notifier.follow_up(root, news, update_parent=parent) and attempt.number > 1:
            self._notifier.post(report.job, news)  # no thread to follow: never lose a retry's result

    # ------------------------------------------------------------------ launches that created no task

    def handle_launch(self, failed: FailedLaunch) -> RunResult:
        """A failed launch is attempt 1 of a run of its job: alerted, then retried under the job's
        policy when the failure may pass (capacity, throttling); its retries thread under its alert.
        One that is not retried is the failed end of its run: it starts the job's ``on_failure``."""
        job = self._jobs.job(failed.job) or job_for_launch(self._jobs, failed.launch)
        attempt = Attempt(number=1, of=job.retry.attempts, root_task_arn=failed.run_id)
        decision = self._launch_decision(failed, job)
        steps: list[Callable[[], object]] = [
            partial(
                self._notifier.announce,
                failed.key,
                launch_alert(failed, attempt),
                event=launch_datadog_event(failed, attempt),
                points=launch_metric_points(failed, attempt),
            )
        ]
        request = None
        if decision.action is RetryAction.RETRY and self._scheduler is not None:
            request = retry_request_for_launch(
                failed, job, attempt=2, of=attempt.of, network=job.run_task_network()
            )
        if request is not None:
            retry, delay = request, decision.delay_seconds or 0
            steps.append(
                partial(
                    self._guard.once, f"retry#{failed.key}", lambda: self._schedule_launch_retry(retry, delay)
                )
            )
        else:
            end = failed_end(
                job, None, root_run_id=failed.run_id, last_run_id=failed.run_id, region=failed.launch.region
            )
            steps.append(partial(self._start_on_failure, end))
        if self._history is not None:
            steps.append(partial(self._history.record, launch_record(failed, attempt)))
        run_each(steps)
        return RunResult(attempt=attempt, decision=decision, job=failed.job)

    def _launch_decision(self, failed: FailedLaunch, job: JobConfig) -> RetryDecision:
        if not failed.retryable:
            return RetryDecision(RetryAction.EXIT, "the same request would fail again")
        if job.retry.attempts <= 1:
            return RetryDecision(RetryAction.EXIT, "the job is not retried (retry.attempts is 1)")
        if failed.launch.request is None:
            return RetryDecision(RetryAction.EXIT, "CloudTrail did not record the request to repeat")
        delay = backoff_delay(job.retry.backoff, 1, self._jitter(failed.key))
        return RetryDecision(
            RetryAction.RETRY, "launch failures are retried", delay_seconds=delay, next_attempt=2
        )

    def _schedule_launch_retry(self, request: RetryRequest, delay: int) -> None:
        assert self._scheduler is not None
        self._scheduler.schedule(request, delay)
        attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
        news = _launch_news(
            request,
            attempt,
            f"retry {attempt.label} scheduled in {human_duration(float(delay))}",
            "warning",
            request.reason,
        )
        self._notifier.follow_up(request.root_task_arn, news)

    # ------------------------------------------------------------------ the launcher

    def launch(self, request: RetryRequest) -> LaunchResult | None:
        """Start the requested attempt once; None when a duplicate request already did."""
        results: list[LaunchResult] = []
        self._guard.once(f"launch#{request.key}", lambda: results.append(self._launch(request)))
        return results[0] if results else None

    def _launch(self, request: RetryRequest) -> LaunchResult:
        assert self._runner is not None, "the launcher needs a task runner"
        if request.trigger == CHAIN_TRIGGER:
            return self._launch_chained(request)
        result = self._run_task(request)
        attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
        if result.task_arn:
            lineage = Lineage(
                request.root_task_arn,
                request.attempt,
                request.of,
                request.job,
                network=request.network_configuration,
                chain_id=request.chain_id,
                triggered_by=request.triggered_by,
                triggered_by_job=request.triggered_by_job,
            )
            self._lineage.record_lineage(result.task_arn, lineage)
            news = _launch_news(request, attempt, f"attempt {attempt.label} started", "info", result.task_arn)
            try:
                self._notifier.follow_up(request.root_task_arn, news)
            except (TransientError, DeliveryError) as e:
                # The task runs; the attempt's stop will be told in the thread. Failing here would
                # make the redelivery's last try say the retry "could not be launched".
                logger.warning("retry started; its thread reply was not posted", extra={"error": str(e)})
            return result
        why = result.failure or "RunTask started no task"
        news = _launch_news(request, attempt, f"retry {attempt.label} could not be launched", "error", why)
        # Each effect under its own key: if queueing the clean-up jobs fails, the redelivery calls
        # RunTask again (its token gives the same refusal) but does not tell the thread twice.
        run_each(
            [
                partial(self._guard.once, f"refused#{request.key}", partial(self._tell, request, news)),
                partial(self._start_on_failure, failed_retry_end(self._jobs.job(request.job), request)),
            ]
        )
        return result

    def _run_task(self, request: RetryRequest) -> LaunchResult:
        """RunTask; a passing failure becomes LaunchNotStarted (SQS redelivers, the token dedupes)."""
        assert self._runner is not None, "the launcher needs a task runner"
        try:
            return self._runner.run(request)
        except LaunchNotStarted:
            raise
        except TransientError as e:
            raise LaunchNotStarted(str(e)) from e

    def abandon(self, request: RetryRequest, error: str, tries: int) -> None:
        """The launcher's last try failed for a passing reason (capacity, throttling): say so once,
        in the run's thread, before the request goes to the retry dead-letter queue.

        An abandoned retry ends its run: the job's ``on_failure`` jobs start. An abandoned chain
        launch of B does not start B's ``on_failure``: B never ran, so no run of B ended.
        """
        if request.trigger == CHAIN_TRIGGER:
            why = f"{error} (gave up after {tries} tries; the request is in the retry dead-letter queue)"
            self._guard.once(f"abandon#{request.key}", lambda: self._chain_not_started(request, why))
            return

        def alert() -> None:
            attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
            why = f"{error} (gave up after {tries} tries; the request is in the retry dead-letter queue)"
            news = _launch_news(
                request, attempt, f"retry {attempt.label} could not be launched", "error", why
            )
            self._tell(request, news)

        run_each(
            [
                partial(self._guard.once, f"abandon#{request.key}", alert),
                partial(self._start_on_failure, failed_retry_end(self._jobs.job(request.job), request)),
            ]
        )

    def _tell(self, request: RetryRequest, news: Alert) -> None:
        parent = replace(news, title=f"{request.job} gave up: {news.title.removeprefix(request.job + ' ')}")
        self._notifier.reply_or_post(request.root_task_arn, news, update_parent=parent)

    def manual_retry(self, event: TaskEvent) -> LaunchResult | None:
        """`ecswatch retry <task>`: the same parameters, the next attempt number, the same thread."""
        lineage = self._lineage.lineage_of(event.task.arn)
        job = self._jobs.job(lineage.job) if lineage else None
        job = job or self._jobs.job_for(event)
        number = (lineage.attempt if lineage else 1) + 1
        request = request_from_event(
            event,
            job=job.name,
            root_task_arn=lineage.root_task_arn if lineage else event.task.arn,
            attempt=number,
            of=max(number, lineage.of if lineage else job.retry.attempts),
            network_configuration=self._network_for(event, job, lineage),
            reason="manual retry",
            trigger="manual",
            chain=chain_of(lineage),
        )
        return self.launch(request)

    # ------------------------------------------------------------------ dependency chains

    def _in_chain(
        self,
        report: RunReport,
        job: JobConfig,
        lineage: Lineage | None,
        attempt: Attempt,
        decision: RetryDecision | None,
    ) -> Attempt:
        """The attempt with its place in a chain, and the jobs it starts if it is the run's last.

        Decided before anything is published, so A's own alert and Datadog event say what it starts.
        """
        final = decision is not None and decision.action is RetryAction.EXIT
        starts = next_jobs(report, job) if final and self._scheduler is not None else ()
        chain = chain_link(job, lineage, attempt.root_task_arn or report.event.task.arn, starts=starts)
        return replace(attempt, chain=chain) if chain is not None else attempt

    def _start_chain(self, report: RunReport, attempt: Attempt) -> None:
        end = run_end(report, attempt)
        if end is not None:
            self._start_next(end)

    def _start_on_failure(self, end: RunEnd | None) -> None:
        """A run that ended with no task stopping (``end`` from :func:`failed_end`, None when its job
        starts nothing): its on_failure jobs, as after a stop. Needs the queue, as ``_in_chain`` does."""
        if end is not None and self._scheduler is not None:
            self._start_next(end)

    def _start_next(self, end: RunEnd) -> None:
        """Queue one launch per next job (once per root run and job), then tell A's thread once.

        The retry launcher does the RunTask: it alone holds ecs:RunTask and iam:PassRole.
        """
        for request in launch_requests(end, self._jobs):
            self._guard.once(request.key, partial(self._queue_now, request))
        self._guard.once(f"chain-news#{end.root_run_id}", partial(self._tell_chain_started, end))

    def _queue_now(self, request: RetryRequest) -> None:
        assert self._scheduler is not None
        self._scheduler.schedule(request, 0)

    def _tell_chain_started(self, end: RunEnd) -> None:
        """A reply in A's thread; a run nobody was alerted about (a quiet success) has none, and the
        started jobs' own alerts still say what triggered them."""
        self._notifier.follow_up(end.root_run_id, starting_news(end))

    def _launch_chained(self, request: RetryRequest) -> LaunchResult:
        """Attempt 1 of B, which a chain starts. If ECS refuses it, that is told in the triggering
        run's thread, and B's own ``on_failure`` does not start: B never ran, so no run of B ended
        (unlike a refused retry, which ends the run it retries)."""
        assert self._runner is not None, "the launcher needs a task runner"
        result = self._run_task(request)
        if result.task_arn:
            self._lineage.record_lineage(result.task_arn, lineage_of_chained(request, result.task_arn))
            return result
        self._chain_not_started(request, result.failure or "RunTask started no task")
        return result

    def _chain_not_started(self, request: RetryRequest, why: str) -> None:
        """In the thread of the run that should have started it, else in the job's own channel."""
        self._notifier.reply_or_post(request.root_task_arn, not_started_news(request, why))

    # ------------------------------------------------------------------ helpers

    def _jitter(self, key: str) -> random.Random:
        """The injected generator (tests), else one seeded with the run's key: a redelivery draws
        the same delay as the first delivery did."""
        return self._rng or random.Random(key)  # noqa: S311 -- backoff jitter, not cryptography

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

    def _job(self, report: RunReport) -> JobConfig:
        return self._jobs.job(report.job) or self._jobs.job_for(report.event)

    def _network_for(
        self, event: TaskEvent, job: JobConfig, lineage: Lineage | None
    ) -> Mapping[str, Any] | None:
        """The job config wins; then the network that launched this attempt (retries and chains);
        then the EventBridge rule that started the first run."""
        if job.network is not None:
            return job.run_task_network()
        if lineage is not None and lineage.network is not None:
            return lineage.network
        if self._network is not None:
            return self._network.network_for(event.task.region, event.started_by, event.task_definition.arn)
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
