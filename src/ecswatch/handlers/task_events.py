"""TaskEventsFunction: ECS Task State Change events (via SQS, or direct from EventBridge) -> run reports;
and RunTask calls recorded by CloudTrail, of which the failed ones (no task created) are failed runs.

parse -> analyse -> publish, one record at a time, with partial batch failure
reporting: a bad record is reported (and after maxReceiveCount dead-lettered)
while the rest of the batch goes through.

The batch loop is :mod:`ecswatch.handlers.batch`, not Powertools' BatchProcessor: same semantics for
SQS, without the ~60 ms its import costs every cold start.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from ecswatch.adapters.factory import Dependencies, build_dependencies
from ecswatch.budget import Budget
from ecswatch.config.settings import Settings
from ecswatch.coordinators.task_events import FailedLaunch
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.cloudtrail import is_runtask_call
from ecswatch.events.task import MalformedEvent
from ecswatch.handlers import batch
from ecswatch.handlers.batch import SQSMessage
from ecswatch.run import RunReport, Skipped

# A batch of duplicates publishes no metrics; that is expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
metrics = Metrics()


@cache
def dependencies() -> Dependencies:
    """Built on first use and kept for the container's life (clients, caches, sinks)."""
    return build_dependencies(Settings.from_env(), metrics=metrics)


def handle_event(raw: Any) -> RunReport | FailedLaunch | Skipped:
    deps = dependencies()
    if is_runtask_call(raw):
        return handle_launch(deps, raw)
    result = deps.task_events.read_task_event(raw)
    if isinstance(result, Skipped):
        logger.info("event skipped", extra={"skip_reason": result.reason, "skip_kind": result.kind})
        return result
    logger.append_keys(task_arn=result.event.task.arn, job=result.job)
    deps.task_events.handle_run(result)  # the log line, alerts, retries, chained jobs, the history record
    return result


def handle_launch(deps: Dependencies, raw: Any) -> FailedLaunch | Skipped:
    """A RunTask call recorded by CloudTrail: a failed one is a failed run that no task will report."""
    result = deps.task_events.read_launch(raw)
    if isinstance(result, Skipped):
        logger.debug("launch skipped", extra={"skip_reason": result.reason, "skip_kind": result.kind})
        return result
    logger.append_keys(run_id=result.run_id, job=result.job)
    logger.warning("launch failed: no task was created", extra={"cause": result.cause})
    metrics.add_metric(name="FailedLaunches", unit="Count", value=1)
    deps.task_events.handle_failed_launch(result)
    return result


def record_handler(record: SQSMessage) -> RunReport | FailedLaunch | Skipped:
    logger.append_keys(message_id=record.message_id)
    try:
        return handle_event(_json_body(record))
    except MalformedEvent as e:
        logger.error("malformed event; it will be retried and then dead-lettered", extra={"error": str(e)})
        raise
    except TransientError as e:
        logger.warning("outside system failed; message will be redelivered", extra={"error": str(e)})
        raise
    except DeliveryError as e:
        logger.error(
            "delivery refused (configuration?); message will be retried, then dead-lettered",
            extra={"error": str(e)},
        )
        raise
    except Exception:
        logger.exception("unexpected error; message will be retried, then dead-lettered")
        raise
    finally:
        logger.remove_keys(["task_arn", "run_id", "job", "message_id"])


def process_batch(
    event: Mapping[str, Any], *, budget: Budget | None = None
) -> dict[str, list[dict[str, str]]]:
    """Each record through :func:`record_handler`, the failed ones reported by message id (see
    :mod:`ecswatch.handlers.batch`: every record tried, none started without the time to finish)."""
    return batch.process_batch(event, record_handler, budget=budget)


def _json_body(record: SQSMessage) -> Any:
    try:
        return json.loads(record.body)
    except (TypeError, json.JSONDecodeError) as e:
        raise MalformedEvent(f"SQS message body is not JSON: {e}") from e


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    deps = dependencies()
    deps.notifier.register_lambda_context(context)
    deps.budget.start(context)
    try:
        if "detail-type" in event:
            # Invoked straight from EventBridge (or `sam local invoke -e events/<one event>.json`):
            # errors propagate so Lambda's async retries and on-failure destination take over.
            result = handle_event(event)
            return {"result": _result_name(result)}
        return process_batch(event, budget=deps.budget)
    finally:
        flush_metrics()


def _result_name(result: RunReport | FailedLaunch | Skipped) -> str:
    if isinstance(result, Skipped):
        return "skipped"
    if isinstance(result, FailedLaunch):
        return "failed_launch"
    return result.phase.value


def flush_metrics() -> None:
    """One Datadog metrics call per invocation. Best effort: the runs' events and alerts are already
    delivered (and de-duplicated), so a failed flush is logged and counted, not redelivered."""
    try:
        sent = dependencies().notifier.flush()
    except (TransientError, DeliveryError) as e:
        logger.error("Datadog metrics not sent", extra={"error": str(e)})
        metrics.add_metric(name="DatadogFlushFailures", unit="Count", value=1)
        return
    if sent:
        logger.debug("Datadog metrics sent", extra={"points": sent})
