"""The fault suite's stack: the real task-events handler over the offline stack, faults on demand.

One stack serves each test module: moto in server mode with DynamoDB requests serialized (so several
handler processes at once see DynamoDB's atomic conditional writes, see
:class:`local.stack.SerializedMotoServer`), the fake Slack and Datadog endpoints, which answer 429,
500, slowly or ``ok: false`` on demand (``stack.slack.fault``, or over HTTP with
:func:`local.fake_slack.control`), and a retry queue. Each test starts from empty fakes, an empty
state table and a cold container. The job config is the suite's own: invoice-export retries
exit 2 up to 3 attempts, everything alerts to #batch-alerts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from ecswatch.handlers import task_events
from local.fake_slack import SlackMessage, render
from local.lambda_runtime import LambdaContext
from local.stack import STATE_TABLE, Stack, offline_stack

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    jobs = tmp_path_factory.mktemp("faults") / "jobs.yaml"
    jobs.write_text(JOBS)
    with pytest.MonkeyPatch.context() as env:
        for name in STRAY_SETTINGS:
            env.delenv(name, raising=False)
        env.setenv("JOBS_CONFIG_PATH", str(jobs))
        parameters.clear_caches()
        with offline_stack(retries=True, serialized=True) as running:
            yield running
        parameters.clear_caches()


@pytest.fixture(autouse=True)
def cold_container(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Empty fakes and state table, a new container, the deployed Powertools settings (the handler
    module made its metrics at import, so the namespace is set on that object)."""
    monkeypatch.setattr(task_events.metrics, "namespace", "ecswatch")
    monkeypatch.setattr(task_events.metrics, "service", "ecswatch")
    stack.slack.clear()
    stack.datadog.server.clear()
    empty_state_table()
    task_events.dependencies.cache_clear()
    yield
    task_events.dependencies.cache_clear()


def empty_state_table() -> None:
    db = boto3.client("dynamodb")
    for page in db.get_paginator("scan").paginate(TableName=STATE_TABLE, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            db.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


def deliver(batch: dict[str, Any]) -> list[str]:
    """One invocation in this process; the ids of the records that failed (SQS redelivers them).
    A batch whose every record failed raises in Powertools (issue 13 item 11, handled elsewhere):
    for SQS that is every record back, which is what this returns."""
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


def top_level(stack: Stack) -> list[SlackMessage]:
    """The channel's messages as people see them now (latest edit), thread replies left out."""
    return [m for m in stack.slack.messages() if m.thread_ts is None]


def named(stack: Stack, task_ids: list[str]) -> dict[str, bool]:
    """Whether each run is named anywhere in the channel (any message or reply, as shown now)."""
    shown = "\n".join(render(m) for m in stack.slack.messages())
    return {task_id: task_id in shown for task_id in task_ids}
