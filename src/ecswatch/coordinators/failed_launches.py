"""decide -> act for a RunTask call that created no task (read from CloudTrail by the task-events function).

A failed launch is attempt 1 of a run of its job: alerted, then retried under the job's policy
when the failure may pass (capacity, throttling); its retries thread under its alert. One that is
not retried is the failed end of its run: it starts the job's ``on_failure`` jobs
(:mod:`ecswatch.coordinators.chain_starts`).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ecswatch.analysis.failed_launch import FailedLaunch, job_for_launch
from ecswatch.chains.links import RunEnd, failed_end
from ecswatch.config.model import JobConfig, JobsConfig, RetryAction
from ecswatch.coordinators.chain_starts import ChainStarter
from ecswatch.coordinators.shared import RunResult, jitter, launch_news, retry_note
from ecswatch.effects import run_each
from ecswatch.history.records import HistoryRecorder, launch_record
from ecswatch.notifications import words
from ecswatch.notifications.launch_alerts import launch_alert, launch_datadog_event, launch_metric_points
from ecswatch.notifications.notifier import Notifier
from ecswatch.notifications.render import human_duration
from ecswatch.ports import OnceGuard, RetryScheduler
from ecswatch.retries.policy import RetryDecision, backoff_delay
from ecswatch.retries.request import retry_request_for_launch
from ecswatch.run import Attempt, RetryRequest

#: Why a launch failure that may pass is still not retried: there is no request to send again.
_UNREPEATABLE = "CloudTrail did not record the request to repeat"


class FailedLaunchCoordinator:
    def __init__(
        self,
        *,
        notifier: Notifier,
        guard: OnceGuard,
        jobs: JobsConfig,
        chains: ChainStarter,
        scheduler: RetryScheduler | None = None,
        history: HistoryRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._jobs = jobs
        self._chains = chains
        self._scheduler = scheduler
        self._history = history
        #: Backoff jitter; by default seeded with the launch's key (see :func:`~.shared.jitter`).
        self._rng = rng

    def handle(self, failed: FailedLaunch) -> RunResult:
        """Alert, then schedule the retry or start the job's on_failure jobs, then record the run:
        each step runs even when one before it failed (the first failure is raised after)."""
        job = self._jobs.job(failed.job) or job_for_launch(self._jobs, failed.launch)
        decision = self._decision(failed, job)
        request = None
        if decision.action is RetryAction.RETRY and self._scheduler is not None:
            request = retry_request_for_launch(
                failed, job, attempt=2, of=job.retry.attempts, network=job.run_task_network()
            )
            if request is None:
                decision = RetryDecision(RetryAction.EXIT, _UNREPEATABLE, brief=_UNREPEATABLE)
        # Decided before the alert, so the alert, the Datadog event and the history say what follows.
        note = retry_note(decision, Attempt(1, job.retry.attempts), scheduled=self._scheduler is not None)
        attempt = Attempt(number=1, of=job.retry.attempts, root_task_arn=failed.run_id, retry=note)
        steps: list[Callable[[], object]] = [lambda: self._alert(failed, attempt)]
        if request is not None:
            retry, delay = request, decision.delay_seconds or 0
            steps.append(lambda: self._schedule_once(failed, retry, delay))
        else:
            steps.append(lambda: self._chains.after_failed_end(self._failed_end(failed, job)))
        history = self._history
        if history is not None:
            steps.append(lambda: history.record(launch_record(failed, attempt)))
        run_each(steps)
        return RunResult(attempt=attempt, decision=decision, job=failed.job)

    def _alert(self, failed: FailedLaunch, attempt: Attempt) -> None:
        self._notifier.announce(
            failed.key,
            launch_alert(failed, attempt),
            event=launch_datadog_event(failed, attempt),
            points=launch_metric_points(failed, attempt),
        )

    def _decision(self, failed: FailedLaunch, job: JobConfig) -> RetryDecision:
        if not failed.retryable:
            return RetryDecision(
                RetryAction.EXIT,
                "the same request would fail again",
                brief=f"{_failure_name(failed)} is not retryable",
            )
        if job.retry.attempts <= 1:
            return RetryDecision(
                RetryAction.EXIT,
                "the job is not retried (retry.attempts is 1)",
                brief="no retries configured",
            )
        if failed.launch.request is None:
            return RetryDecision(RetryAction.EXIT, _UNREPEATABLE, brief=_UNREPEATABLE)
        delay = backoff_delay(job.retry.backoff, 1, jitter(self._rng, failed.key))
        return RetryDecision(
            RetryAction.RETRY, "launch failures are retried", delay_seconds=delay, next_attempt=2
        )

    @staticmethod
    def _failed_end(failed: FailedLaunch, job: JobConfig) -> RunEnd | None:
        """Not retried: the run ends with this launch, and may start its job's on_failure jobs."""
        return failed_end(
            job, None, root_run_id=failed.run_id, last_run_id=failed.run_id, region=failed.launch.region
        )

    def _schedule_once(self, failed: FailedLaunch, request: RetryRequest, delay: int) -> None:
        self._guard.once(f"retry#{failed.key}", lambda: self._schedule(request, delay))

    def _schedule(self, request: RetryRequest, delay: int) -> None:
        assert self._scheduler is not None
        self._scheduler.schedule(request, delay)
        attempt = Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)
        news = launch_news(
            request,
            attempt,
            words.retry_scheduled_in(attempt.label, human_duration(float(delay))),
            "warning",
            request.reason,
        )
        self._notifier.follow_up(request.root_task_arn, news)


def _failure_name(failed: FailedLaunch) -> str:
    """AWS's own name for the refusal: the API error code, else the first placement failure's reason."""
    launch = failed.launch
    if launch.error_code:
        return launch.error_code
    reasons = [f.reason for f in launch.failures if f.reason]
    return reasons[0] if reasons else "the failure"
