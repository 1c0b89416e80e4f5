"""Dependency chains, for the other coordinators: a run's place in a chain, and the jobs its end starts.

A run that ends for good starts its job's ``on_success`` or ``on_failure`` jobs: its final task
stopped (:class:`~ecswatch.coordinators.task_runs.TaskRunCoordinator`), or its last launch created
no task (a failed launch not retried, a retry ECS refused or the launcher abandoned). Either way
one launch request per next job is queued (the retry launcher alone holds ecs:RunTask and
iam:PassRole) and the run's thread says once "A failed: starting C" (see :mod:`ecswatch.chains.links`).
"""

from __future__ import annotations

from msgspec.structs import replace

from ecswatch.chains.links import (
    RunEnd,
    chain_link,
    launch_requests,
    next_jobs,
    not_started_news,
    run_end,
    starting_news,
)
from ecswatch.config.model import JobConfig, JobsConfig, RetryAction
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import OnceGuard, RetryScheduler
from ecswatch.retries.policy import RetryDecision
from ecswatch.run import Attempt, Lineage, RetryRequest, RunReport


class ChainStarter:
    """Starts the next jobs of a chain; without a retry queue (``scheduler``) a run starts none."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        guard: OnceGuard,
        jobs: JobsConfig,
        scheduler: RetryScheduler | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._jobs = jobs
        self._scheduler = scheduler

    def link(
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

    def after_stop(self, report: RunReport, attempt: Attempt) -> None:
        """The run's final task stopped: the jobs :meth:`link` gave its attempt start."""
        end = run_end(report, attempt)
        if end is not None:
            self._start_next(end)

    def after_failed_end(self, end: RunEnd | None) -> None:
        """A run that ended with no task stopping (``end`` from :func:`~ecswatch.chains.links.failed_end`,
        None when its job starts nothing): its on_failure jobs, as after a stop. Needs the queue, as
        :meth:`link` does."""
        if end is not None and self._scheduler is not None:
            self._start_next(end)

    def not_started(self, request: RetryRequest, why: str) -> None:
        """A chained job ECS would not start: said in the thread of the run that should have started
        it, else in the job's own channel."""
        self._notifier.reply_or_post(request.root_task_arn, not_started_news(request, why))

    def _start_next(self, end: RunEnd) -> None:
        """Queue one launch per next job (once per root run and job), then tell A's thread once."""
        for request in launch_requests(end, self._jobs):
            self._queue_once(request)
        self._guard.once(f"chain-news#{end.root_run_id}", lambda: self._tell_started(end))

    def _queue_once(self, request: RetryRequest) -> None:
        """Queued now (no delay): the launcher starts it; once per root run and job."""
        self._guard.once(request.key, lambda: self._queue_now(request))

    def _queue_now(self, request: RetryRequest) -> None:
        assert self._scheduler is not None
        self._scheduler.schedule(request, 0)

    def _tell_started(self, end: RunEnd) -> None:
        """A reply in A's thread; a run nobody was alerted about (a quiet success) has none, and the
        started jobs' own alerts still say what triggered them."""
        self._notifier.follow_up(end.root_run_id, starting_news(end))
