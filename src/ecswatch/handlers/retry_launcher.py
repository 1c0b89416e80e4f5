"""RetryLauncherFunction: retry requests -> ecs:RunTask, once each.

Requests arrive from the retry queue (SQS, possibly delayed; longer delays via an
EventBridge Scheduler one-time schedule that sends to the same queue). A manual
retry is a direct invocation with ``{"retry_task_arn": "<task ARN>"}``:

    aws lambda invoke --function-name <RetryLauncherFunction> \\
        --cli-binary-format raw-in-base64-out --payload '{"retry_task_arn": "arn:aws:ecs:..."}' out.json

It goes through the same lineage and notifications as an automatic retry.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecswatch.adapters.factory import Dependencies, build_dependencies
from ecswatch.budget import Budget
from ecswatch.config.settings import Settings
from ecswatch.errors import DeliveryError, LaunchNotStarted, TransientError
from ecswatch.events.task import MalformedEvent
from ecswatch.handlers import batch
from ecswatch.handlers.batch import SQSMessage
from ecswatch.run import LaunchResult, RetryRequest

warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
metrics = Metrics()


@cache
def dependencies() -> Dependencies:
    return build_dependencies(Settings.from_env(), metrics=metrics)


def launch(request: RetryRequest) -> LaunchResult | None:
    logger.append_keys(job=request.job, root_task_arn=request.root_task_arn, attempt=request.attempt)
    result = dependencies().launcher.launch(request)
    if result is None:
        logger.info("duplicate retry request; the attempt was already launched")
    elif result.task_arn:
        logger.info("retry launched", extra={"task_arn": result.task_arn})
        metrics.add_metric(name="RetriesLaunched", unit="Count", value=1)
    else:
        logger.error("retry could not be launched; alerted", extra={"failure": result.failure})
        metrics.add_metric(name="RetryLaunchFailures", unit="Count", value=1)
    return result


def record_handler(record: SQSMessage) -> None:
    logger.append_keys(message_id=record.message_id)
    try:
        request = parse_request(record.body)
        launch(request)
    except MalformedEvent as e:
        logger.error(
            "malformed retry request; it will be retried and then dead-lettered", extra={"error": str(e)}
        )
        raise
    except TransientError as e:
        give_up(record, request, e)
        raise
    except DeliveryError as e:
        logger.error(
            "delivery refused (configuration?); retried, then dead-lettered", extra={"error": str(e)}
        )
        raise
    finally:
        logger.remove_keys(["message_id", "job", "root_task_arn", "attempt"])


def parse_request(body: str) -> RetryRequest:
    try:
        return RetryRequest.from_json(body)
    except (ValueError, TypeError) as e:
        raise MalformedEvent(f"not a retry request: {e}") from e


def give_up(record: SQSMessage, request: RetryRequest, error: TransientError) -> None:
    """Back off between tries (SQS redelivers after the visibility timeout we set); on the last
    receive, alert the run's thread before the request goes to the dead-letter queue."""
    deps = dependencies()
    tries = record.receive_count
    if tries >= deps.settings.retry_max_receives:
        if isinstance(error, LaunchNotStarted):  # only then is "could not be launched" true
            logger.error(
                "retry could not be launched; giving up", extra={"error": str(error), "tries": tries}
            )
            deps.launcher.abandon(request, str(error), tries)
            metrics.add_metric(name="RetryLaunchFailures", unit="Count", value=1)
        else:
            logger.error(
                "retry request failed on its last receive; it goes to the retry dead-letter queue",
                extra={"error": str(error), "tries": tries},
            )
        return
    delay = redelivery_delay(tries)
    logger.warning(
        "RunTask or a notifier failed for now; the request will be redelivered",
        extra={"error": str(error), "tries": tries, "next_try_in_seconds": delay},
    )
    if deps.retry_queue is not None:
        deps.retry_queue.delay_redelivery(record.receipt_handle, delay)


def redelivery_delay(tries: int) -> int:
    """30 s, 1 m, 2 m, 4 m ... capped at 15 minutes: capacity shortages pass in minutes, not seconds."""
    return int(min(900, 30 * 2 ** (tries - 1)))


def manual_retry(task_arn: str) -> dict[str, Any]:
    """Describe the task, read it like a stop event, launch its next attempt (MalformedEvent for
    what is not a task ARN, or a task ECS no longer knows)."""
    result = dependencies().launcher.retry_task(task_arn)
    if result is None:
        return {"result": "duplicate", "task_arn": None}
    return {
        "result": "launched" if result.task_arn else "refused",
        "task_arn": result.task_arn,
        "failure": result.failure,
    }


def process_batch(
    event: Mapping[str, Any], *, budget: Budget | None = None
) -> dict[str, list[dict[str, str]]]:
    """Each request through :func:`record_handler` (see :mod:`ecswatch.handlers.batch`). A request
    that failed for now (no capacity, throttling) is reported as a batch item failure and comes back
    after its backoff: expected, so a batch that failed as a whole is not a Lambda error either (which
    would trip RetryLauncherErrorsAlarm on every capacity shortage). The retry DLQ alarm and the
    thread's "could not be launched" tell of the requests that were given up."""
    return batch.process_batch(event, record_handler, budget=budget)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Mapping[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    deps = dependencies()
    deps.notifier.register_lambda_context(context)
    deps.budget.start(context)
    try:
        if "retry_task_arn" in event:
            return manual_retry(str(event["retry_task_arn"]))
        return process_batch(event, budget=deps.budget)
    finally:
        try:
            dependencies().notifier.flush()
        except (TransientError, DeliveryError) as e:
            logger.error("Datadog metrics not sent", extra={"error": str(e)})
