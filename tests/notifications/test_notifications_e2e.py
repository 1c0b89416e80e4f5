"""Notifications end to end: what the Slack and Datadog endpoints receive when SQS batches reach the handler.

``ecswatch.handlers.task_events.lambda_handler`` runs inside the offline stack: AWS is
moto in server mode (task definitions, log streams, the state table and the
secrets seeded), Slack and Datadog are local HTTP fakes, and the real boto3,
slack-sdk and datadog-api-client talk to them. So every assertion is about a
request that went over the wire, under at-least-once delivery: duplicates,
redeliveries, new containers, throttling, 5xx and timeouts.

One stack serves the module (moto and its seed take seconds); each test starts
from an empty state table, empty fakes and a cold container. The job config is
the test's own (every job on the defaults: failures to #batch-alerts, no success
alerts), so editing the shipped src/ecswatch/config/jobs.yaml cannot change these specs.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from datadog_api_client.rest import ClientRetry

from ecswatch.adapters import slack as slack_adapter
from ecswatch.adapters.dynamodb.history import DynamoRunHistory
from ecswatch.adapters.slack import SlackPoster
from ecswatch.handlers import task_events
from ecswatch.run import RunReport
from local.capture import Captured
from local.fake_datadog import EVENTS_PATH, SERIES_PATH, decoded_json
from local.faults import as_task
from local.lambda_runtime import LambdaContext, sqs_batch
from local.stack import STATE_TABLE, Stack, offline_stack

LoadEvent = Callable[[str], dict[str, Any]]

pytestmark = [
    pytest.mark.offline,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

POST = "/api/chat.postMessage"
UPDATE = "/api/chat.update"
DEFAULT_CHANNEL = "#batch-alerts"
#: Secrets written into the invoice-export log stream (events/seed/log-events.json) that the tail must hide.
SEEDED_SECRETS = ("Vx9qT2pLm4Rz", "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9")
#: Every job on the defaults.
DEFAULTS_ONLY = 'defaults:\n  slack_channel: "#batch-alerts"\n  notify_on_success: false\njobs: {}\n'
#: nightly-report asks for success alerts, in its own channel.
REPORTS_NOTIFY_SUCCESS = DEFAULTS_ONLY.replace(
    "jobs: {}",
    "jobs:\n  nightly-report:\n    match:\n      family: nightly-report\n"
    '    slack_channel: "#reports"\n    notify_on_success: true',
)
#: Settings a developer's shell could carry; cleared so they cannot filter events or change limits.
STRAY_SETTINGS = (
    "WATCH_CLUSTERS",
    "INCLUDE_SERVICE_TASKS",
    "LOG_TAIL_LINES",
    "LOG_TAIL_MAX_BYTES",
    "SLACK_WEBHOOK_PARAMETER",
    "STORM_WINDOW_SECONDS",
    "SECRETS_MAX_AGE_SECONDS",
    "DATADOG_SITE",
)


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time, which is where capsys listens."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _Reports:
    """A run sink that keeps the reports, so a test can compare what was sent with what was analysed."""

    def __init__(self) -> None:
        self.seen: list[RunReport] = []

    def publish(self, report: RunReport) -> None:
        self.seen.append(report)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The offline stack, once for the module; Powertools' secret cache is emptied around it, since its
    providers keep boto3 clients made for whichever AWS (in-process moto, the server) was current."""
    jobs = tmp_path_factory.mktemp("config") / "jobs.yaml"
    jobs.write_text(DEFAULTS_ONLY)
    with pytest.MonkeyPatch.context() as env:
        for name in STRAY_SETTINGS:
            env.delenv(name, raising=False)
        env.setenv("JOBS_CONFIG_PATH", str(jobs))
        parameters.clear_caches()
        with offline_stack() as running:
            yield running
        parameters.clear_caches()


@pytest.fixture(autouse=True)
def cold_container(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Each test: empty fakes and state table, a new container, the deployed Powertools settings.

    As in test_handler: the handler module made its logger and metrics at import, so the namespace and
    service are set on those objects, and the logger is pointed at the stdout capsys captures.
    """
    monkeypatch.setattr(task_events.metrics, "namespace", "ecswatch")
    monkeypatch.setattr(task_events.metrics, "service", "ecswatch")
    monkeypatch.setattr(task_events.logger.registered_handler, "stream", _CurrentStdout())
    stack.slack.clear()
    stack.datadog.server.clear()
    empty_state_table()
    task_events.dependencies.cache_clear()
    capsys.readouterr()
    yield
    task_events.dependencies.cache_clear()


@pytest.fixture
def no_datadog_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """datadog-api-client still makes its 1 + 2 attempts, without the 4 s sleep before the last one."""
    monkeypatch.setattr(ClientRetry, "get_backoff_time", lambda self: 0.0)


@pytest.fixture
def slow_slack(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The next chat.postMessage is answered after 2 s, and the factory's SlackPoster gives up after 1 s
    (instead of 5 s, to keep the test short). Slack still posts that message, as it may after a client
    timeout; the fixture waits for it so it cannot land in the next test."""

    class QuickSlackPoster(SlackPoster):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, "timeout": 1.0})

    monkeypatch.setattr(slack_adapter, "SlackPoster", QuickSlackPoster)
    stack.slack.fail(POST, status=200, delay=2.0)
    yield
    if not stack.slack.faults.get(POST):  # the slow answer was taken: wait until it is delivered
        wait_until(lambda: answered(stack.slack.calls(POST)) != [])


def empty_state_table() -> None:
    """Storm windows, threads and idempotency records of earlier tests would hide this test's alerts."""
    db = boto3.client("dynamodb")
    for page in db.get_paginator("scan").paginate(TableName=STATE_TABLE, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            db.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


# ------------------------------------------------------------------ helpers


def deliver(batch: dict[str, Any]) -> dict[str, Any]:
    response = task_events.lambda_handler(batch, LambdaContext())
    return dict(response)


def new_container() -> None:
    task_events.dependencies.cache_clear()


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def message_ids(batch: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in batch["Records"]]


def next_version(event: dict[str, Any]) -> dict[str, Any]:
    """The same task's state change again, as ECS sends it when an attribute changes after the stop."""
    copied: dict[str, Any] = json.loads(json.dumps(event))
    copied["id"] = str(uuid.uuid4())
    copied["detail"]["version"] += 1
    return copied


def with_a_running_task(load_event: LoadEvent, event: dict[str, Any]) -> dict[str, Any]:
    """A batch of ``event`` and a started run (metrics only: no alert, no Datadog event).

    The started run goes through whatever Slack or Datadog do, so the batch never fails as a whole
    (Powertools raises when every record fails) and the response shows which record failed.
    """
    return sqs_batch(event, load_event("running-fargate"))


def answered(calls: list[Captured], status: int = 200) -> list[Captured]:
    return [call for call in calls if call.status == status]


def header_text(blocks: list[dict[str, Any]]) -> str:
    return str(next(b for b in blocks if b["type"] == "header")["text"]["text"])


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def field_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]


def button_urls(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {e["text"]["text"]: e["url"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


def stdout_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every JSON object written to stdout since the last read: Powertools log lines and EMF blobs."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def emf_values(output: list[dict[str, Any]], metric: str) -> list[float]:
    """The values of ``metric`` over every EMF line (a Powertools line holds a list, ours a number)."""
    found: list[float] = []
    for blob in output:
        if "_aws" in blob and metric in blob:
            value = blob[metric]
            found.extend(value if isinstance(value, list) else [value])
    return found


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the fake never saw the request"
        time.sleep(0.05)


# ------------------------------------------------------------------ one failed run


def test_a_failed_run_posts_one_alert_with_its_blocks_to_the_default_channel(
    stack: Stack, load_event: LoadEvent
) -> None:
    reports = _Reports()
    task_events.dependencies().sinks.append(reports)

    deliver(sqs_batch(load_event("stopped-nonzero-exit")))

    [post] = stack.slack.calls(POST)
    body = post.json
    assert body["channel"] == DEFAULT_CHANNEL
    assert body["text"] == "invoice-export failed: container 'export' exited 2"
    assert header_text(body["blocks"]) == ":x: invoice-export failed"
    assert "*Exit code*\n2" in field_texts(body["blocks"])
    [report] = reports.seen
    assert report.links.log_stream is not None
    assert button_urls(body["blocks"])["Log stream"] == report.links.log_stream
    assert stack.slack.calls(UPDATE) == []


def test_the_alerts_log_tail_is_redacted_before_it_leaves_the_function(
    stack: Stack, load_event: LoadEvent
) -> None:
    deliver(sqs_batch(load_event("stopped-nonzero-exit")))

    [post] = stack.slack.calls(POST)
    [tail] = [text for text in block_texts(post.json["blocks"]) if text.startswith("```")]
    assert "postgresql://invoice_ro:[REDACTED]@billing-db" in tail
    assert "Authorization: Bearer [REDACTED]" in tail
    wire = post.body.decode()
    assert [secret for secret in SEEDED_SECRETS if secret in wire] == []


def test_a_failed_run_sends_one_datadog_error_event_keyed_by_job_and_task(
    stack: Stack, load_event: LoadEvent
) -> None:
    deliver(sqs_batch(load_event("stopped-nonzero-exit")))

    [event] = stack.datadog.events()
    assert event["title"] == "invoice-export failed"
    assert event["alert_type"] == "error"
    assert event["aggregation_key"] == "ecswatch:invoice-export:f77fae8dc62fd89bd256b1c897d44a25"
    assert event["source_type_name"] == "amazon ecs"
    assert event["tags"] == [
        "job:invoice-export",
        "cluster:batch",
        "family:invoice-export",
        "revision:12",
        "launch_type:fargate",
        "attempt:1",
        "outcome:failed",
        "exit_code:2",
    ]
    assert len(stack.datadog.calls(EVENTS_PATH)) == 1


def test_the_metric_points_of_a_whole_batch_go_in_one_series_call(
    stack: Stack, load_event: LoadEvent
) -> None:
    batch = sqs_batch(
        load_event("stopped-nonzero-exit"), load_event("stopped-success"), load_event("running-fargate")
    )

    deliver(batch)

    [call] = stack.datadog.calls(SERIES_PATH)
    series = decoded_json(call)["series"]
    counted = sorted(
        (tag for s in series if s["metric"] == "ecswatch.run.count" for tag in s["tags"] if "job:" in tag),
    )
    assert counted == ["job:invoice-export", "job:nightly-report"]  # the two stopped runs
    started = sorted(
        p["value"] for s in series if s["metric"] == "ecswatch.run.start_latency" for p in s["points"]
    )
    # Once per run, from whichever event carries startedAt first: the running task (whose stop is
    # stopped-success, the same task: not sent again) and invoice-export, whose RUNNING event never came.
    assert started == [33.089, 42.409]


def test_a_success_of_a_job_on_the_defaults_sends_a_datadog_success_event_and_no_slack_message(
    stack: Stack, load_event: LoadEvent
) -> None:
    deliver(sqs_batch(load_event("stopped-success")))

    assert stack.slack.calls(POST) == []
    assert [(e["title"], e["alert_type"]) for e in stack.datadog.events()] == [
        ("nightly-report succeeded", "success")
    ]


def test_a_success_of_a_job_that_asks_for_success_alerts_is_posted_to_its_channel(
    stack: Stack, load_event: LoadEvent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(REPORTS_NOTIFY_SUCCESS)
    monkeypatch.setenv("JOBS_CONFIG_PATH", str(jobs))

    deliver(sqs_batch(load_event("stopped-success")))

    [post] = stack.slack.calls(POST)
    assert post.json["channel"] == "#reports"
    assert header_text(post.json["blocks"]) == ":white_check_mark: nightly-report succeeded"


# ------------------------------------------------------------------ duplicates


@pytest.fixture
def notified_batch(stack: Stack, load_event: LoadEvent) -> dict[str, Any]:
    """A failed and a successful run, delivered and notified once; the fakes are emptied afterwards, so a
    test sees only what delivering the batch again sends."""
    batch = sqs_batch(load_event("stopped-nonzero-exit"), load_event("stopped-success"))
    deliver(batch)
    stack.slack.clear()
    stack.datadog.server.clear()
    return batch


def test_a_batch_delivered_again_to_the_same_container_notifies_nothing_new(
    stack: Stack, notified_batch: dict[str, Any]
) -> None:
    response = deliver(notified_batch)

    assert failed_ids(response) == []
    assert stack.slack.requests == []
    assert stack.datadog.server.requests == []


def test_a_batch_delivered_again_to_a_new_container_notifies_nothing_new(
    stack: Stack, notified_batch: dict[str, Any]
) -> None:
    new_container()

    response = deliver(notified_batch)

    assert failed_ids(response) == []
    assert stack.slack.requests == []
    assert stack.datadog.server.requests == []


def test_two_stopped_events_of_one_task_in_one_batch_make_one_alert(
    stack: Stack, load_event: LoadEvent
) -> None:
    stopped = load_event("stopped-nonzero-exit")

    deliver(sqs_batch(stopped, next_version(stopped)))

    assert len(stack.slack.calls(POST)) == 1
    assert stack.slack.calls(UPDATE) == []
    assert len(stack.datadog.events()) == 1


def test_the_deprovisioning_event_then_the_stopped_event_of_a_task_make_one_alert(
    stack: Stack, load_event: LoadEvent
) -> None:
    batch = sqs_batch(load_event("stopped-nonzero-exit-deprovisioning"), load_event("stopped-nonzero-exit"))

    deliver(batch)

    [post] = stack.slack.calls(POST)
    assert header_text(post.json["blocks"]) == ":x: invoice-export failed"
    assert stack.slack.calls(UPDATE) == []
    assert len(stack.datadog.events()) == 1


# ------------------------------------------------------------------ storms


@pytest.fixture
def storm_batch(load_event: LoadEvent) -> dict[str, Any]:
    """Three failed runs of invoice-export (three tasks) and one out-of-memory run of image-resize."""
    failed = load_event("stopped-nonzero-exit")
    return sqs_batch(
        failed,
        as_task(failed, "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        as_task(failed, "1b2c3d4e5f60718293a4b5c6d7e8f90a"),
        load_event("stopped-oom"),
    )


def test_three_failures_of_one_job_post_once_and_update_that_message_to_three(
    stack: Stack, storm_batch: dict[str, Any]
) -> None:
    deliver(storm_batch)

    invoice_posts = [p for p in stack.slack.calls(POST) if "invoice-export" in p.json["text"]]
    assert len(invoice_posts) == 1
    updates = stack.slack.calls(UPDATE)
    assert len(updates) == 2
    latest = updates[-1].json
    assert latest["text"].startswith("invoice-export failing: 3 failed runs since ")
    assert header_text(latest["blocks"]).startswith(":x: invoice-export failing: 3 failed runs since ")
    [shown] = [m for m in stack.slack.messages() if m.text.startswith("invoice-export")]
    assert (shown.ts, shown.edits) == (latest["ts"], 2)
    assert "*Failures*\n3" in field_texts(shown.blocks)


def test_a_failure_of_another_job_in_the_same_batch_gets_its_own_message(
    stack: Stack, storm_batch: dict[str, Any]
) -> None:
    deliver(storm_batch)

    titles = [header_text(m.blocks) for m in stack.slack.messages(DEFAULT_CHANNEL)]
    assert len(titles) == 2
    assert titles[1] == ":x: image-resize out of memory"
    assert [p.json["text"].split(":")[0] for p in stack.slack.calls(POST)] == [
        "invoice-export failed",
        "image-resize out of memory",
    ]


# ------------------------------------------------------------------ Slack trouble


def test_a_slack_429_with_retry_after_is_retried_and_the_batch_succeeds_with_one_message(
    stack: Stack, load_event: LoadEvent
) -> None:
    stack.slack.fail(POST, status=429, retry_after=1)

    response = deliver(sqs_batch(load_event("stopped-nonzero-exit")))

    assert failed_ids(response) == []
    first, second = stack.slack.calls(POST)
    assert (first.status, second.status) == (429, 200)
    assert first.body == second.body
    assert len(stack.slack.messages()) == 1


@pytest.fixture
def slack_outage(stack: Stack, load_event: LoadEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """A failed run (and a started one) delivered while chat.postMessage answers 500: (batch, response)."""
    stack.slack.fail(POST, status=500, times=10)
    batch = with_a_running_task(load_event, load_event("stopped-nonzero-exit"))
    return batch, deliver(batch)


def test_a_slack_outage_fails_only_the_alerting_record_and_still_sends_its_datadog_event_once(
    stack: Stack, slack_outage: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    batch, response = slack_outage

    assert failed_ids(response) == message_ids(batch)[:1]
    assert [c.status for c in stack.slack.calls(POST)] == [500, 500]  # one try and slack-sdk's one retry
    assert [e["title"] for e in stack.datadog.events()] == ["invoice-export failed"]
    assert stack.slack.messages() == []


def test_after_a_slack_outage_the_redelivery_posts_once_and_sends_no_second_datadog_event(
    stack: Stack, slack_outage: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    batch, _ = slack_outage
    stack.slack.faults.clear()  # Slack is back
    events_before = len(stack.datadog.calls(EVENTS_PATH))

    response = deliver(batch)

    assert failed_ids(response) == []
    assert len(answered(stack.slack.calls(POST))) == 1
    assert len(stack.slack.messages()) == 1
    assert len(stack.datadog.calls(EVENTS_PATH)) == events_before == 1


def test_a_slack_answer_slower_than_the_client_timeout_fails_the_record(
    load_event: LoadEvent, slow_slack: None
) -> None:
    batch = with_a_running_task(load_event, load_event("stopped-nonzero-exit"))

    response = deliver(batch)

    assert failed_ids(response) == message_ids(batch)[:1]


def test_after_a_slack_timeout_the_redelivery_makes_exactly_one_post(
    stack: Stack, load_event: LoadEvent, slow_slack: None
) -> None:
    batch = with_a_running_task(load_event, load_event("stopped-nonzero-exit"))
    deliver(batch)
    wait_until(lambda: len(stack.slack.calls(POST)) == 1)  # the slow request, answered after the timeout
    stack.slack.clear()

    response = deliver(batch)

    assert failed_ids(response) == []
    assert len(stack.slack.calls(POST)) == 1
    assert len(stack.datadog.calls(EVENTS_PATH)) == 1  # sent by the first delivery only


def test_an_unknown_channel_fails_the_record_with_an_error_log_saying_delivery_was_refused(
    stack: Stack, load_event: LoadEvent, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.slack.error("chat.postMessage", "channel_not_found")
    batch = with_a_running_task(load_event, load_event("stopped-nonzero-exit"))

    response = deliver(batch)

    assert failed_ids(response) == message_ids(batch)[:1]
    errors = [line for line in stdout_json(capsys) if line.get("level") == "ERROR"]
    assert [e["message"] for e in errors] == [
        "delivery refused (configuration?); message will be retried, then dead-lettered"
    ]
    assert errors[0]["error"].startswith(
        f"Slack chat.postMessage to {DEFAULT_CHANNEL} failed: channel_not_found"
    )


# ------------------------------------------------------------------ Datadog trouble


@pytest.fixture
def datadog_events_outage(
    stack: Stack, load_event: LoadEvent, no_datadog_backoff: None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A failed run delivered while /api/v1/events answers 500: (batch, response)."""
    stack.datadog.server.fail(EVENTS_PATH, status=500, times=10)
    batch = with_a_running_task(load_event, load_event("stopped-nonzero-exit"))
    return batch, deliver(batch)


def test_a_datadog_events_outage_fails_the_record_but_slack_is_still_alerted(
    stack: Stack, datadog_events_outage: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    batch, response = datadog_events_outage

    assert failed_ids(response) == message_ids(batch)[:1]
    assert [c.status for c in stack.datadog.calls(EVENTS_PATH)] == [500, 500, 500]  # 1 + 2 retries
    assert len(answered(stack.slack.calls(POST))) == 1


def test_after_a_datadog_events_outage_the_redelivery_sends_the_event_once_and_does_not_repost(
    stack: Stack, datadog_events_outage: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    batch, _ = datadog_events_outage
    stack.datadog.server.faults.clear()  # Datadog is back

    response = deliver(batch)

    assert failed_ids(response) == []
    assert len(stack.slack.calls(POST)) == 1
    assert [e["title"] for e in stack.datadog.events()] == ["invoice-export failed"]


def test_a_run_redelivered_after_a_datadog_events_outage_is_counted_once_in_cloudwatch(
    stack: Stack,
    datadog_events_outage: tuple[dict[str, Any], dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch, _ = datadog_events_outage
    stack.datadog.server.faults.clear()

    deliver(batch)

    assert emf_values(stdout_json(capsys), "Runs") == [1.0]


@pytest.fixture
def series_outage(stack: Stack, load_event: LoadEvent, no_datadog_backoff: None) -> dict[str, Any]:
    """A failed run delivered while /api/v2/series answers 500: the batch response."""
    stack.datadog.server.fail(SERIES_PATH, status=500, times=10)
    return deliver(sqs_batch(load_event("stopped-nonzero-exit")))


def test_a_failed_metrics_flush_does_not_fail_the_batch_or_its_alerts(
    stack: Stack, series_outage: dict[str, Any]
) -> None:
    assert failed_ids(series_outage) == []
    assert [c.status for c in stack.datadog.calls(SERIES_PATH)] == [500, 500, 500]
    assert len(answered(stack.slack.calls(POST))) == 1
    assert len(stack.datadog.events()) == 1


def test_a_failed_metrics_flush_is_logged_as_an_error_and_counted_in_cloudwatch(
    series_outage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    output = stdout_json(capsys)

    errors = [line for line in output if line.get("level") == "ERROR"]
    assert [e["message"] for e in errors] == ["Datadog metrics not sent"]
    assert "HTTP 500" in errors[0]["error"]
    assert emf_values(output, "DatadogFlushFailures") == [1.0]


# ------------------------------------------------------------------ launches that created no task


def test_a_failed_scheduled_launch_is_alerted_and_a_successful_one_is_not(
    stack: Stack, load_event: LoadEvent
) -> None:
    batch = sqs_batch(
        load_event("cloudtrail-runtask-capacity-failure"),
        load_event("cloudtrail-runtask-success"),
        load_event("running-fargate"),
    )

    response = deliver(batch)

    assert failed_ids(response) == []
    [post] = stack.slack.calls(POST)
    assert post.json["channel"] == DEFAULT_CHANNEL
    assert header_text(post.json["blocks"]) == ":x: nightly-report failed to launch"
    assert "Capacity is unavailable at this time" in post.json["text"]
    assert "CloudTrail event" in button_urls(post.json["blocks"])
    [event] = [decoded_json(c) for c in stack.datadog.server.calls(EVENTS_PATH)]
    assert "outcome:failed_to_launch" in event["tags"]
    history = DynamoRunHistory(boto3.client("dynamodb"), STATE_TABLE)
    [run] = history.runs("nightly-report", since=datetime(2025, 3, 5, tzinfo=UTC))
    assert (run.outcome, run.run_id) == ("failed_to_launch", "launch:3610cc4c-e9b2-407a-b9a6-939b9f41c157")


def test_a_failed_launch_delivered_twice_is_alerted_once(stack: Stack, load_event: LoadEvent) -> None:
    failed_launch = load_event("cloudtrail-runtask-invalid-parameter")
    deliver(sqs_batch(failed_launch))

    deliver(sqs_batch(failed_launch))
    new_container()
    deliver(sqs_batch(failed_launch))

    assert len(stack.slack.calls(POST)) == 1
    assert len(stack.datadog.server.calls(EVENTS_PATH)) == 1
