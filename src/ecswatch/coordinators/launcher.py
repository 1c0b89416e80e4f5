"""The retry launcher's side of a run: start the requested attempt once, say how it went.

The retry-launcher function calls :meth:`Launcher.launch` for every request on the retry queue
(a retry the task-events function scheduled, or a job a chain starts), :meth:`Launcher.abandon`
when the queue's last try failed for a passing reason, and :meth:`Launcher.retry_task` for
``ecswatch retry <task>``. A launch ECS refuses, or one abandoned, ends the run it retries:
the job's ``on_failure`` jobs start (:mod:`ecswatch.coordinators.chain_starts`).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from msgspec.structs import replace

from ecswatch.chains.links import chain_of, failed_retry_end, lineage_of_chained
from ecswatch.config.model import JobsConfig
from ecswatch.coordinators.chain_starts import ChainStarter
from ecswatch.coordinators.shared import launch_news, network_for
from ecswatch.effects import run_each
from ecswatch.errors import DeliveryError, LaunchNotStarted, TransientError
from ecswatch.events.task import MalformedEvent, TaskEvent
from ecswatch.events.vocabulary import CHAIN_TRIGGER
from ecswatch.notifications import words
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import LineageStore, NetworkDiscovery, OnceGuard, TaskReader, TaskRunner
from ecswatch.retries.request import request_from_event
from ecswatch.run import Alert, Attempt, LaunchResult, Lineage, RetryRequest

logger = Logger(child=True)

_NO_TASK = "RunTask started no task"


class Launcher:
    def __init__(
        self,
        *,
        notifier: Notifier,
        guard: OnceGuard,
        lineage: LineageStore,
        jobs: JobsConfig,
        chains: ChainStarter,
        runner: TaskRunner,
        tasks: TaskReader | None = None,
        network: NetworkDiscovery | None = None,
    ) -> None:
        self._notifier = notifier
        self._guard = guard
        self._lineage = lineage
        self._jobs = jobs
        self._chains = chains
        self._runner = runner
        #: DescribeTasks, for a manual retry of a task by its ARN.
        self._tasks = tasks
        self._network = network

    def launch(self, request: RetryRequest) -> LaunchResult | None:
        """Start the requested attempt once; None when a duplicate request already did."""
        results: list[LaunchResult] = []
        self._guard.once(f"launch#{request.key}", lambda: results.append(self._launch(request)))
        return results[0] if results else None

    def abandon(self, request: RetryRequest, error: str, tries: int) -> None:
        """The launcher's last try failed for a passing reason (capacity, throttling): say so once,
        in the run's thread, before the request goes to the retry dead-letter queue.

        An abandoned retry ends its run: the job's ``on_failure`` jobs start. An abandoned chain
        launch of B does not start B's ``on_failure``: B never ran, so no run of B ended.
        """
        why = f"{error} (gave up after {tries} tries; the request is in the retry dead-letter queue)"
        if request.trigger == CHAIN_TRIGGER:
            self._guard.once(f"abandon#{request.key}", lambda: self._chains.not_started(request, why))
            return
        run_each(
            [
                lambda: self._tell_refused_once(f"abandon#{request.key}", request, why),
                lambda: self._end_run(request),
            ]
        )

    def retry_task(self, task_arn: str) -> LaunchResult | None:
        """``ecswatch retry <task ARN>``: the task as DescribeTasks reads it, retried as
        :meth:`manual_retry` does. Raises MalformedEvent for what is not a task ECS still knows."""
        assert self._tasks is not None, "a manual retry needs DescribeTasks"
        event = self._tasks.task_event(task_arn)
        if event is None:
            raise MalformedEvent(f"no such task (or it expired from ECS): {task_arn}")
        return self.manual_retry(event)

    def manual_retry(self, event: TaskEvent) -> LaunchResult | None:
        """The same parameters, the next attempt number, the same thread."""
        lineage = self._lineage.lineage_of(event.task.arn)
        named = self._jobs.job(lineage.job) if lineage else None
        job = named or self._jobs.job_for(event)
        number = (lineage.attempt if lineage else 1) + 1
        request = request_from_event(
            event,
            job=job.name,
            root_task_arn=lineage.root_task_arn if lineage else event.task.arn,
            attempt=number,
            of=max(number, lineage.of if lineage else job.retry.attempts),
            network_configuration=network_for(event, job, lineage, self._network),
            reason="manual retry",
            trigger="manual",
            chain=chain_of(lineage),
        )
        return self.launch(request)

    # ------------------------------------------------------------------ one launch

    def _launch(self, request: RetryRequest) -> LaunchResult:
        if request.trigger == CHAIN_TRIGGER:
            return self._launch_chained(request)
        result = self._run_task(request)
        if result.task_arn:
            self._lineage.record_lineage(result.task_arn, _lineage_of_retry(request))
            self._tell_started(request, result.task_arn)
            return result
        why = result.failure or _NO_TASK
        # Each effect under its own key: if queueing the clean-up jobs fails, the redelivery calls
        # RunTask again (its token gives the same refusal) but does not tell the thread twice.
        run_each(
            [
                lambda: self._tell_refused_once(f"refused#{request.key}", request, why),
                lambda: self._end_run(request),
            ]
        )
        return result

    def _launch_chained(self, request: RetryRequest) -> LaunchResult:
        """Attempt 1 of B, which a chain starts. If ECS refuses it, that is told in the triggering
        run's thread, and B's own ``on_failure`` does not start: B never ran, so no run of B ended
        (unlike a refused retry, which ends the run it retries)."""
        result = self._run_task(request)
        if result.task_arn:
            self._lineage.record_lineage(result.task_arn, lineage_of_chained(request, result.task_arn))
            return result
        self._chains.not_started(request, result.failure or _NO_TASK)
        return result

    def _run_task(self, request: RetryRequest) -> LaunchResult:
        """RunTask; a passing failure becomes LaunchNotStarted (SQS redelivers, the token dedupes)."""
        try:
            return self._runner.run(request)
        except LaunchNotStarted:
            raise
        except TransientError as e:
            raise LaunchNotStarted(str(e)) from e

    def _tell_started(self, request: RetryRequest, task_arn: str) -> None:
        attempt = _attempt(request)
        news = launch_news(request, attempt, words.attempt_started(attempt.label), "info", task_arn)
        try:
            self._notifier.follow_up(request.root_task_arn, news)
        except (TransientError, DeliveryError) as e:
            # The task runs; the attempt's stop will be told in the thread. Failing here would
            # make the redelivery's last try say the retry "could not be launched".
            logger.warning("retry started; its thread reply was not posted", extra={"error": str(e)})

    def _tell_refused_once(self, key: str, request: RetryRequest, why: str) -> None:
        self._guard.once(key, lambda: self._tell_refused(request, why))

    def _tell_refused(self, request: RetryRequest, why: str) -> None:
        """In the run's thread (else the job's channel), and the first alert now says it gave up."""
        attempt = _attempt(request)
        news = launch_news(request, attempt, words.retry_not_launched(attempt.label), "error", why)
        self._tell(request, news)

    def _tell(self, request: RetryRequest, news: Alert) -> None:
        parent = replace(news, title=words.gave_up(request.job, news.title.removeprefix(request.job + " ")))
        self._notifier.reply_or_post(request.root_task_arn, news, update_parent=parent)

    def _end_run(self, request: RetryRequest) -> None:
        """A retry that will never start ends its run with the attempt before it: its job's
        on_failure jobs start (the job looked up once, here, from the name the request carries)."""
        self._chains.after_failed_end(failed_retry_end(self._jobs.job(request.job), request))


def _attempt(request: RetryRequest) -> Attempt:
    return Attempt(number=request.attempt, of=request.of, root_task_arn=request.root_task_arn)


def _lineage_of_retry(request: RetryRequest) -> Lineage:
    """What the retry's stop will read: its run's root, its attempt number, its job and network."""
    return Lineage(
        request.root_task_arn,
        request.attempt,
        request.of,
        request.job,
        network=request.network_configuration,
        chain_id=request.chain_id,
        triggered_by=request.triggered_by,
        triggered_by_job=request.triggered_by_job,
    )
