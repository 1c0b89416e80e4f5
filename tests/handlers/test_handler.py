"""Specification of ``ecswatch.handlers.task_events.lambda_handler``, end to end against moto.

A batch with bad messages in it: each bad message is reported as a batch item failure (so SQS retries
it and then dead-letters it) with an error log line that names the problem, and every other message in
the batch still goes through. Powertools writes its JSON log lines and the EMF metric blobs to stdout,
so the tests read stdout back as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ecswatch.events.task import MalformedEvent
from ecswatch.handlers import task_events
from local.aws import EVENTS, FAKE_CREDENTIALS, seed_logs, seed_task_definitions
from local.lambda_runtime import LambdaContext, sqs_batch

LoadEvent = Callable[[str], dict[str, Any]]

# Powertools warns when an invocation (a skipped or malformed event) records no metric; that is expected.
pytestmark = [
    pytest.mark.offline,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

TRUNCATED_BODY = '{"version":"0","id":"1b3d5f7a-9c2e-4a6b-8d0f-2e4a6c8e0b14","detail-type":"ECS Task Sta'
#: Cleared for each test, so a developer's shell cannot filter clusters or switch on Slack, Datadog or state.
SETTINGS_VARIABLES = (
    "WATCH_CLUSTERS",
    "INCLUDE_SERVICE_TASKS",
    "LOG_TAIL_LINES",
    "LOG_TAIL_MAX_BYTES",
    "STATE_TABLE_NAME",
    "DATADOG_API_KEY_PARAMETER",
    "DATADOG_API_URL",
    "SLACK_TOKEN_PARAMETER",
    "SLACK_WEBHOOK_PARAMETER",
    "SLACK_API_URL",
)


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time, which is where capsys listens."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture(autouse=True)
def fresh_lambda_container(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Each test is a cold start: new dependencies, the deployed Powertools settings, stdout captured.

    The handler module reads the Powertools variables when it is imported (as Lambda does at cold start),
    which here happened at collection, so they are also set on the objects it already made. Its logger
    holds the stdout it saw then; it is pointed at the current stdout, which capsys captures.
    """
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ecswatch")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ecswatch")
    monkeypatch.setattr(task_events.metrics, "namespace", "ecswatch")
    monkeypatch.setattr(task_events.metrics, "service", "ecswatch")
    monkeypatch.setattr(task_events.logger.registered_handler, "stream", _CurrentStdout())
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    task_events.dependencies.cache_clear()
    yield
    task_events.dependencies.cache_clear()


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """moto with the seeded task definitions and log streams that the sample events refer to.

    Seeded once for the module (registering every revision up to the sampled one is slow); the handler
    only reads from it, and each test still gets new clients because its dependencies are rebuilt.
    """
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            seed_task_definitions()
            seed_logs()
            yield


def stdout_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every JSON object written to stdout since the last read: log lines and EMF blobs."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def log_lines(output: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    return [entry for entry in output if entry.get("level") == level]


def runs_metrics(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """EMF blobs that carry the Runs count."""
    return [
        blob
        for blob in output
        if "_aws" in blob
        and any(m["Name"] == "Runs" for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]


def message_ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def failures(*ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


# --- a batch with bad messages ------------------------------------------------------------------------


@pytest.fixture
def mixed_batch(load_event: LoadEvent) -> dict[str, Any]:
    """success, nonzero exit, invalid JSON, missing taskArn, deployment event, OOM, running: in that order."""
    return sqs_batch(
        load_event("stopped-success"),
        load_event("stopped-nonzero-exit"),
        TRUNCATED_BODY,
        load_event("bad-missing-task-arn"),
        load_event("bad-deployment-event"),
        load_event("stopped-oom"),
        load_event("running-fargate"),
    )


def test_only_the_invalid_json_and_the_missing_task_arn_messages_fail_in_a_mixed_batch(
    aws: None, mixed_batch: dict[str, Any]
) -> None:
    ids = message_ids(mixed_batch)

    response = task_events.lambda_handler(mixed_batch, LambdaContext())

    assert response == failures(ids[2], ids[3])


def test_the_invalid_json_message_gets_an_error_log_line_naming_the_problem_and_the_message(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    errors = log_lines(stdout_json(capsys), "ERROR")
    not_json = [e for e in errors if e["message_id"] == message_ids(mixed_batch)[2]]
    assert len(not_json) == 1
    assert not_json[0]["message"] == "malformed event; it will be retried and then dead-lettered"
    assert not_json[0]["error"].startswith("SQS message body is not JSON: Unterminated string")


def test_the_missing_task_arn_message_gets_an_error_log_line_naming_the_field(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    errors = log_lines(stdout_json(capsys), "ERROR")
    malformed = [e for e in errors if e["message_id"] == message_ids(mixed_batch)[3]]
    assert len(malformed) == 1
    assert malformed[0]["message"] == "malformed event; it will be retried and then dead-lettered"
    assert malformed[0]["error"] == "detail.taskArn is missing"


def test_only_the_two_bad_messages_log_errors(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    errors = log_lines(stdout_json(capsys), "ERROR")
    assert sorted(e["message_id"] for e in errors) == sorted(message_ids(mixed_batch)[2:4])


def test_the_deployment_event_in_a_batch_is_skipped_with_an_info_line_not_a_failure(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    skipped = [e for e in log_lines(stdout_json(capsys), "INFO") if e["message"] == "event skipped"]
    assert [(e["skip_kind"], e["skip_reason"]) for e in skipped] == [
        ("other-event", "not an ECS Task State Change (aws.ecs/ECS Deployment State Change)")
    ]


def test_each_good_stopped_message_in_the_batch_is_reported_in_one_log_line(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    runs = [e["run"] for e in stdout_json(capsys) if "run" in e and e["run"]["phase"] == "stopped"]
    assert [(r["job"], r["outcome"], r["deciding_container"], r["exit_code"]) for r in runs] == [
        ("nightly-report", "succeeded", "report", 0),
        ("invoice-export", "failed", "export", 2),
        ("image-resize", "out_of_memory", "resize", 137),
    ]


def test_a_failed_run_is_logged_as_a_warning_with_its_log_link(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    warnings = [e for e in log_lines(stdout_json(capsys), "WARNING") if "run" in e]
    assert [w["message"] for w in warnings] == ["invoice-export failed", "image-resize out of memory"]
    assert warnings[0]["run"]["log_url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/"
        "log-group/$252Fecs$252Finvoice-export/log-events/ecs$252Fexport$252Ff77fae8dc62fd89bd256b1c897d44a25"
    )


def test_one_runs_metric_per_stopped_report_counts_for_the_fleet_and_for_its_job(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    blobs = runs_metrics(stdout_json(capsys))
    assert [blob["outcome"] for blob in blobs] == ["succeeded", "failed", "out_of_memory"]
    for blob in blobs:
        runs = next(
            d
            for d in blob["_aws"]["CloudWatchMetrics"]
            if d["Metrics"] == [{"Name": "Runs", "Unit": "Count"}]
        )
        assert (runs["Namespace"], runs["Dimensions"]) == (
            "ecswatch",
            [["service", "outcome"], ["service", "job", "outcome"]],
        )
        assert blob["Runs"] == 1
        assert blob["service"] == "ecswatch"


def test_run_durations_and_start_latency_go_out_with_their_job_and_launch_type(
    aws: None, mixed_batch: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    task_events.lambda_handler(mixed_batch, LambdaContext())

    blobs = [b for b in stdout_json(capsys) if "_aws" in b]
    assert [b["RunDuration"] for b in blobs if "RunDuration" in b] == [855.697, 632.344, 396.0]
    started = {b["StartLatency"]: b for b in blobs if "StartLatency" in b}
    # One per run: the running task's (its stop in the batch does not send it again), and the other
    # stopped runs', whose RUNNING events were not in the batch.
    assert started[33.089]["ImagePullTime"] == 12.548
    assert started[33.089]["launch_type"] == "FARGATE"
    assert len(started) == len({b["_aws"]["Timestamp"] for b in started.values()})
    (directive,) = started[33.089]["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"], ["service", "job", "launch_type"]]


def test_a_throttled_lookup_fails_only_its_message_so_sqs_redelivers_it(
    aws: None, load_event: LoadEvent, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = sqs_batch(load_event("stopped-success"), load_event("stopped-oom"))
    eu_west_ecs = task_events.dependencies().clients.get("ecs", "eu-west-1")
    with Stubber(eu_west_ecs) as stubber:
        stubber.add_client_error("describe_task_definition", "ThrottlingException", "Rate exceeded", 400)
        capsys.readouterr()

        response = task_events.lambda_handler(batch, LambdaContext())

    assert response == failures(message_ids(batch)[0])
    warnings = [e for e in log_lines(stdout_json(capsys), "WARNING") if e["message"].startswith("outside")]
    assert [w["message"] for w in warnings] == ["outside system failed; message will be redelivered"]
    assert "ThrottlingException" in warnings[0]["error"]


def test_json_bodies_that_are_not_events_fail_and_an_event_from_another_service_is_skipped(
    aws: None, load_event: LoadEvent
) -> None:
    ec2_event = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}
    batch = sqs_batch(load_event("stopped-success"), "[1, 2]", "null", '"a string"', ec2_event)
    ids = message_ids(batch)

    response = task_events.lambda_handler(batch, LambdaContext())

    assert response == failures(ids[1], ids[2], ids[3])


def test_the_sample_sqs_batch_fails_only_its_truncated_message(aws: None) -> None:
    batch = json.loads((EVENTS / "sqs-batch.json").read_text())

    response = task_events.lambda_handler(batch, LambdaContext())

    assert response == failures("a1c3e5f7-9b2d-4f6a-8c1e-3b5d7f9a1c03")


# --- direct EventBridge invocation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "result"),
    [
        ("stopped-success", "stopped"),
        ("stopped-taskdef-deleted", "stopped"),
        ("running-fargate", "started"),
        ("bad-deployment-event", "skipped"),
        ("stopped-service-task", "skipped"),
    ],
)
def test_a_direct_eventbridge_invocation_returns_what_became_of_the_event(
    sample: str, result: str, aws: None, load_event: LoadEvent
) -> None:
    response = task_events.lambda_handler(load_event(sample), LambdaContext())

    assert response == {"result": result}


def test_a_malformed_direct_invocation_raises_so_lambda_retries_it(aws: None, load_event: LoadEvent) -> None:
    with pytest.raises(MalformedEvent, match=r"detail\.taskArn is missing"):
        task_events.lambda_handler(load_event("bad-missing-task-arn"), LambdaContext())


def test_settings_come_from_the_environment_of_the_cold_start(
    aws: None, load_event: LoadEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCLUDE_SERVICE_TASKS", "true")

    response = task_events.lambda_handler(load_event("stopped-service-task"), LambdaContext())

    assert response == {"result": "stopped"}
