"""What the fault suite (``tests/faults``) and the fault-matrix benchmark (``bench/fault_matrix.py``)
share: the jobs they run, deliveries to the real task-events handler, and what the channel shows.

Both drive ``ecswatch.handlers.task_events.lambda_handler`` over :func:`local.stack.offline_stack`
with faults injected in the fake endpoints. The job config is theirs: invoice-export retries exit 2
up to 3 attempts, everything alerts to #batch-alerts.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local.fake_slack import SlackMessage, render
from local.lambda_runtime import LambdaContext
from local.stack import STATE_TABLE

if TYPE_CHECKING:
    from local.stack import Stack

JOBS = """\
defaults:
  slack_channel: "#batch-alerts"
  notify_on_success: false
jobs:
  invoice-export:
    match:
      family: invoice-export
    retry:
      attempts: 3
      evaluate_on_exit:
        - on_exit_code: "2"
          action: RETRY
        # As AWS Batch advises, a final entry that exits for any other reason: without it, any
        # failure would be retried (Batch retries what no rule matches).
        - on_reason: "*"
          action: EXIT
"""
#: Settings a developer's shell could carry; cleared so they cannot change what the suite sees.
STRAY_SETTINGS = (
    "WATCH_CLUSTERS",
    "INCLUDE_SERVICE_TASKS",
    "SLACK_WEBHOOK_PARAMETER",
    "STORM_WINDOW_SECONDS",
    "SECRETS_MAX_AGE_SECONDS",
)
POST = "/api/chat.postMessage"
UPDATE = "/api/chat.update"
#: The task-events queue's visibility timeout (template.yaml): a failed record comes back after it.
VISIBILITY_TIMEOUT_SECONDS = 360
#: Stored times that a wait would age, with their unit (seconds or ms): the ends of the storms' post
#: and render leases, of Powertools' IN_PROGRESS records, and when a Slack post was intended.
_TIMED_ATTRIBUTES = {"poster_until": 1, "render_until": 1, "in_progress_expiration": 1000, "at": 1000}


def empty_state_table() -> None:
    db = boto3.client("dynamodb")
    for page in db.get_paginator("scan").paginate(TableName=STATE_TABLE, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            db.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


def state_items() -> list[dict[str, Any]]:
    """Every item of the state table (idempotency records, storms, threads, run history)."""
    db = boto3.client("dynamodb")
    return [
        item for page in db.get_paginator("scan").paginate(TableName=STATE_TABLE) for item in page["Items"]
    ]


def visibility_timeout_passed(seconds: int = VISIBILITY_TIMEOUT_SECONDS) -> int:
    """Stand in for waiting out the visibility timeout before a redelivery: every stored lease end
    (a storm's post and render leases), IN_PROGRESS record's expiry and post intent's time moves
    ``seconds`` into the past, as if that much time had gone by. The function's own timeout (60 s) is shorter
    than the visibility timeout (360 s), so in AWS each of them has expired when the record comes
    back. Returns how many items were aged."""
    db = boto3.client("dynamodb")
    aged = 0
    for item in state_items():
        timed = {name: unit for name, unit in _TIMED_ATTRIBUTES.items() if "N" in item.get(name, {})}
        if not timed:
            continue
        names = {f"#a{i}": name for i, name in enumerate(timed)}
        values = {
            f":a{i}": {"N": str(int(item[name]["N"]) - seconds * unit)}
            for i, (name, unit) in enumerate(timed.items())
        }
        db.update_item(
            TableName=STATE_TABLE,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(timed))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        aged += 1
    return aged


def deliver(batch: dict[str, Any]) -> list[str]:
    """One invocation in this process; the ids of the records that failed (SQS redelivers them).
    A batch whose every record failed raised in Powertools' batch processor; for SQS that is every
    record back, which is what this returns then."""
    from ecswatch.handlers import task_events  # noqa: PLC0415 -- after the stack set the environment

    try:
        response = task_events.lambda_handler(batch, LambdaContext())
    except BatchProcessingError:
        return [record["messageId"] for record in batch["Records"]]
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def as_task(event: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The event as another task of the same job would send it: new task id everywhere, new event id."""
    old_id = event["detail"]["taskArn"].rsplit("/", 1)[-1]
    copied: dict[str, Any] = json.loads(json.dumps(event).replace(old_id, task_id))
    copied["id"] = str(uuid.uuid4())
    return copied


def failed_run(
    sample: dict[str, Any], task_id: str, *, exit_code: int = 2, later: timedelta | None = None
) -> dict[str, Any]:
    """invoice-export's failed run (``sample``: events/stopped-nonzero-exit.json) as another task:
    exit 2 (retried by the suite's config) or another code (not retried); ``later``: the run stopped
    that much after the sample's run."""
    event = as_task(sample, task_id)
    if exit_code != 2:
        event = json.loads(json.dumps(event).replace('"exitCode": 2', f'"exitCode": {exit_code}'))
    if later is not None:
        for key in ("stoppingAt", "stoppedAt", "executionStoppedAt", "updatedAt"):
            at = datetime.fromisoformat(event["detail"][key].replace("Z", "+00:00")) + later
            event["detail"][key] = at.isoformat().replace("+00:00", "Z")
    return event


def top_level(stack: Stack) -> list[SlackMessage]:
    """The channel's messages as people see them now (latest edit), thread replies left out."""
    return [m for m in stack.slack.messages() if m.thread_ts is None]


def named(stack: Stack, task_ids: list[str]) -> dict[str, bool]:
    """Whether each run is named anywhere in the channel (any message or reply, as shown now)."""
    shown = "\n".join(render(m) for m in stack.slack.messages())
    return {task_id: task_id in shown for task_id in task_ids}
