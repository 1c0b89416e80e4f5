"""Run history: every run kept by job and start time, one write per event, read back newest first.

The DynamoDB store runs against moto on the state table exactly as template.yaml declares it; the
behaviours both stores share are checked on the in-memory one too, so local runs and tests that
use it mean the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from msgspec.structs import replace

from ecswatch.adapters.dynamodb.history import (
    PAGE_SIZE,
    DynamoRunHistory,
    HistoryRefused,
    MemoryRunHistory,
    from_item,
    iso_ms,
    to_item,
)
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.history.records import SLOW_RUN_READ, run_record
from ecswatch.ports import RunHistory
from ecswatch.run import Attempt, RunRecord
from local.aws import FAKE_CREDENTIALS
from tests.fakes import SampleReport, create_state_table_from_template

pytestmark = pytest.mark.offline

TABLE = "ecswatch-state"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
NOW = 1_760_000_000.0  # the store's clock: epoch seconds
ARN = "arn:aws:ecs:eu-west-1:123456789012:task/batch/"


def a_run(
    hour: int, *, job: str = "nightly-report", outcome: str | None = "succeeded", **changes: Any
) -> RunRecord:
    run = RunRecord(
        job=job,
        run_id=f"{ARN}{hour:032x}",
        cluster="batch",
        region="eu-west-1",
        started_at=T0 + timedelta(hours=hour),
        stopped_at=T0 + timedelta(hours=hour, minutes=10) if outcome else None,
        outcome=outcome,
        durations={"run": 600.0, "start_latency": 30.0},
    )
    return replace(run, **changes)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_state_table_from_template(client, TABLE)
        yield client


@pytest.fixture
def dynamo(dynamodb: Any) -> DynamoRunHistory:
    return DynamoRunHistory(dynamodb, TABLE, retention_days=90, clock=lambda: NOW, page_size=5)


@pytest.fixture(params=["dynamodb", "memory"])
def history(request: pytest.FixtureRequest) -> RunHistory:
    if request.param == "memory":
        return MemoryRunHistory()
    store: DynamoRunHistory = request.getfixturevalue("dynamo")
    return store


def calls_to(client: Any) -> list[str]:
    """Every DynamoDB operation the client makes from now on, by name."""
    made: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: made.append(model.name))
    return made


# --------------------------------------------------------------------------- asking by time range


def test_runs_between_two_times_come_newest_first(history: RunHistory) -> None:
    for hour in range(12):
        history.record(a_run(hour))

    found = history.runs("nightly-report", since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=9))

    assert [r.started_at.hour for r in found] == [9, 8, 7, 6, 5, 4, 3, 2]


def test_a_range_longer_than_a_page_is_read_across_pages_in_one_query_each(
    dynamo: DynamoRunHistory, dynamodb: Any
) -> None:
    for hour in range(12):
        dynamo.record(a_run(hour))
    made = calls_to(dynamodb)

    found = dynamo.runs("nightly-report", since=T0)

    assert [r.started_at.hour for r in found] == list(range(11, -1, -1))
    assert made == ["Query", "Query", "Query"]  # pages of 5: 5 + 5 + 2


def test_a_limit_stops_reading_once_enough_runs_are_found(dynamo: DynamoRunHistory, dynamodb: Any) -> None:
    for hour in range(12):
        dynamo.record(a_run(hour))
    made = calls_to(dynamodb)

    found = dynamo.runs("nightly-report", since=T0, limit=3)

    assert [r.started_at.hour for r in found] == [11, 10, 9]
    assert made == ["Query"]


def test_the_range_is_inclusive_at_both_ends_to_the_millisecond(history: RunHistory) -> None:
    history.record(a_run(1, started_at=T0 + timedelta(milliseconds=1)))
    history.record(a_run(2, started_at=T0 + timedelta(milliseconds=2)))
    history.record(a_run(3, started_at=T0 + timedelta(milliseconds=3)))

    found = history.runs(
        "nightly-report", since=T0 + timedelta(milliseconds=1), until=T0 + timedelta(milliseconds=2)
    )

    assert [r.run_id[-1] for r in found] == ["2", "1"]


def test_runs_of_other_jobs_are_not_in_a_jobs_history(history: RunHistory) -> None:
    history.record(a_run(1, job="export"))
    history.record(a_run(2, job="export-eu"))

    assert [r.job for r in history.runs("export", since=T0)] == ["export"]


def test_an_outcome_filter_reads_past_other_outcomes_until_the_limit(history: RunHistory) -> None:
    for hour in range(30):
        history.record(a_run(hour, outcome="succeeded" if hour % 6 == 0 else "failed"))

    found = history.runs("nightly-report", since=T0, limit=3, outcome="succeeded")

    assert [(r.started_at - T0) // timedelta(hours=1) for r in found] == [24, 18, 12]


def test_a_run_is_found_by_its_task_arn_or_task_id(history: RunHistory) -> None:
    run = a_run(5)
    history.record(run)
    history.record(a_run(6))

    assert history.run(run.run_id) == run
    assert history.run(run.run_id.rsplit("/", 1)[-1]) == run
    assert history.run("0" * 32) is None


def test_a_failed_launch_is_found_by_its_run_id(history: RunHistory) -> None:
    launch = a_run(4, run_id="launch:0d6f2a51-1c6e-4c3f-9d0a-6b1b2c3d4e5f", outcome="failed_to_launch")
    history.record(launch)

    assert history.run("launch:0d6f2a51-1c6e-4c3f-9d0a-6b1b2c3d4e5f") == launch


# --------------------------------------------------------------------------- one run, one record


def test_the_stop_replaces_the_running_record_of_the_same_task(
    history: RunHistory, sample_report: SampleReport
) -> None:
    history.record(run_record(sample_report("running-fargate")))
    history.record(run_record(sample_report("stopped-success")))

    (run,) = history.runs("nightly-report", since=T0)

    assert run.outcome == "succeeded"
    assert run.stopped_at == datetime(2025, 3, 4, 2, 15, 19, 502000, tzinfo=UTC)


def test_a_running_event_processed_after_the_stop_does_not_undo_it(
    history: RunHistory, sample_report: SampleReport
) -> None:
    history.record(run_record(sample_report("stopped-success")))
    history.record(run_record(sample_report("running-fargate")))

    (run,) = history.runs("nightly-report", since=T0)

    assert run.outcome == "succeeded"


def test_a_duplicate_running_event_keeps_one_running_record(
    history: RunHistory, sample_report: SampleReport
) -> None:
    history.record(run_record(sample_report("running-fargate")))
    history.record(run_record(sample_report("running-fargate")))

    (run,) = history.runs("nightly-report", since=T0)

    assert run.is_running


def test_each_event_costs_one_write_and_no_read(
    dynamo: DynamoRunHistory, dynamodb: Any, sample_report: SampleReport
) -> None:
    made = calls_to(dynamodb)

    dynamo.record(run_record(sample_report("running-fargate")))
    dynamo.record(run_record(sample_report("stopped-success")))
    dynamo.record(run_record(sample_report("running-fargate")))  # late, refused by the condition

    assert made == ["PutItem", "PutItem", "PutItem"]


def test_a_record_reads_back_exactly_as_written(
    dynamo: DynamoRunHistory, sample_report: SampleReport
) -> None:
    attempt = Attempt(number=2, of=3, root_task_arn=f"{ARN}{'a' * 32}")
    written = run_record(sample_report("stopped-nonzero-exit"), attempt)
    dynamo.record(written)

    (read,) = dynamo.runs(written.job, since=T0)

    assert read == written
    assert read.log_group
    assert read.log_stream
    assert read.links
    assert read.links["logs"]


def test_the_item_keys_put_the_job_and_start_time_in_the_sort_order(sample_report: SampleReport) -> None:
    run = run_record(sample_report("stopped-success"))

    item = to_item(run, expires_at=0)

    task = run.run_id
    assert item["pk"] == {"S": "JOB#nightly-report"}
    assert item["sk"] == {"S": f"RUN#2025-03-04T02:00:03.118Z#{task}"}
    assert item["gsi1pk"] == {"S": f"RUNID#{task.rsplit('/', 1)[-1]}"}
    assert from_item(item) == run


def test_iso_timestamps_have_one_width_so_they_sort_as_times() -> None:
    moments = [T0 + timedelta(microseconds=m) for m in (0, 1_000, 999_000, 1_000_000, 86_400_000_000)]

    texts = [iso_ms(m) for m in moments]

    assert len({len(t) for t in texts}) == 1
    assert texts == sorted(texts)


# --------------------------------------------------------------------------- retention


def test_items_expire_retention_days_after_they_are_written(dynamodb: Any) -> None:
    store = DynamoRunHistory(dynamodb, TABLE, retention_days=30, clock=lambda: NOW)
    run = a_run(1)
    store.record(run)

    item = dynamodb.get_item(
        TableName=TABLE,
        Key={"pk": {"S": "JOB#nightly-report"}, "sk": {"S": f"RUN#{iso_ms(run.started_at)}#{run.run_id}"}},
    )["Item"]

    assert int(item["expires_at"]["N"]) == int(NOW) + 30 * 86_400


def test_the_template_table_expires_items_on_the_attribute_the_store_writes(dynamodb: Any) -> None:
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]

    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


# --------------------------------------------------------------------------- errors


def test_a_missing_table_is_a_delivery_error_that_names_it(dynamodb: Any) -> None:
    store = DynamoRunHistory(dynamodb, "no-such-table")

    with pytest.raises(DeliveryError, match="no-such-table"):
        store.runs("nightly-report", since=T0)


def refusing(code: str, message: str, status: int = 400) -> tuple[DynamoRunHistory, Stubber]:
    """A history whose next Query fails with this AWS error."""
    client = boto3.client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    stub.add_client_error("query", code, message, http_status_code=status)
    return DynamoRunHistory(client, TABLE), stub


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ExpiredToken", "The security token included in the request is expired"),
        ("ExpiredTokenException", "The security token included in the request is expired"),
        ("UnrecognizedClientException", "The security token included in the request is invalid."),
        ("InvalidClientTokenId", "The security token included in the request is invalid."),
    ],
)
def test_refused_credentials_are_a_delivery_error_that_says_to_check_them(code: str, message: str) -> None:
    store, stub = refusing(code, message)

    with stub, pytest.raises(HistoryRefused) as raised:
        store.runs("nightly-report", since=T0)

    assert raised.value.fix == "credentials"
    assert str(raised.value) == (
        f"DynamoDB Query: AWS refused the credentials ({code}: {message}); check your AWS credentials/profile"
    )


@pytest.mark.parametrize(
    ("message", "permission"),
    [
        (
            "User: arn:aws:sts::123456789012:assumed-role/dev/me is not authorized to perform: "
            "dynamodb:Query on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/ecswatch-state",
            "dynamodb:Query",
        ),
        (
            "User: arn:aws:sts::123456789012:assumed-role/dev/me is not authorized to perform: "
            "kms:Decrypt on resource: arn:aws:kms:eu-west-1:123456789012:key/1234",
            "kms:Decrypt",
        ),
        ("Access denied", "dynamodb:Query"),
    ],
)
def test_denied_access_is_a_delivery_error_that_names_the_missing_permission(
    message: str, permission: str
) -> None:
    store, stub = refusing("AccessDeniedException", message)

    with stub, pytest.raises(HistoryRefused) as raised:
        store.runs("nightly-report", since=T0)

    assert (raised.value.fix, str(raised.value)) == (
        "permission",
        f"DynamoDB Query on {TABLE!r} not allowed (AccessDeniedException); the credentials need {permission}",
    )


def test_a_table_without_the_run_id_index_is_a_delivery_error_that_names_the_index() -> None:
    store, stub = refusing("ValidationException", "The table does not have the specified index: gsi1")

    with stub, pytest.raises(HistoryRefused) as raised:
        store.run("c50ead5370796d06e8a8c6c917151c46")

    assert (raised.value.fix, str(raised.value)) == (
        "table",
        f"DynamoDB Query on {TABLE!r} refused (ValidationException: The table does not have the specified "
        "index: gsi1); is it the ecswatch state table (keys pk/sk, index gsi1)?",
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_and_server_errors_may_pass_and_stay_transient(code: str, status: int) -> None:
    store, stub = refusing(code, "slow down", status)

    with stub, pytest.raises(TransientError, match=code) as raised:
        store.runs("nightly-report", since=T0)

    assert not isinstance(raised.value, DeliveryError)


# --------------------------------------------------------------------------- report -> record


def test_a_stopped_report_becomes_a_record_of_its_outcome_times_and_log(sample_report: SampleReport) -> None:
    run = run_record(sample_report("stopped-nonzero-exit"))

    assert (run.job, run.cluster, run.region) == ("invoice-export", "batch", "eu-west-1")
    assert run.started_at == datetime(2025, 3, 4, 5, 30, 2, 551000, tzinfo=UTC)
    assert (run.outcome, run.exit_code) == ("failed", 2)
    assert run.durations is not None
    assert run.durations["start_latency"] == pytest.approx(42.409)
    assert run.log_group is not None
    assert run.log_stream is not None
    assert run.log_note is None


def test_the_running_and_stopped_records_of_a_task_share_its_start(sample_report: SampleReport) -> None:
    running = run_record(sample_report("running-fargate"))
    stopped = run_record(sample_report("stopped-success"))

    assert (running.job, running.started_at, running.run_id) == (
        stopped.job,
        stopped.started_at,
        stopped.run_id,
    )
    assert running.outcome is None
    assert running.stopped_at is None


def test_a_retry_is_recorded_under_the_lineages_job_with_its_attempt_and_root(
    sample_report: SampleReport,
) -> None:
    root = f"{ARN}{'b' * 32}"

    run = run_record(
        sample_report("stopped-success"), Attempt(number=2, of=3, root_task_arn=root), job="reports"
    )

    assert (run.job, run.attempt, run.attempts_of, run.root_run_id) == ("reports", 2, 3, root)


def test_a_run_whose_log_cannot_be_located_keeps_the_reason(sample_report: SampleReport) -> None:
    run = run_record(sample_report("stopped-taskdef-deleted"))

    assert (run.log_group, run.log_stream) == (None, None)
    assert run.log_note is not None
    assert "could not be read" in run.log_note


# --------------------------------------------------------------------------- wired into the handler


def test_the_task_events_handler_records_each_run_once_under_its_job(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, load_event: Callable[[str], dict[str, Any]]
) -> None:
    from ecswatch.handlers import task_events

    for name in (
        "SLACK_TOKEN_PARAMETER",
        "SLACK_WEBHOOK_PARAMETER",
        "DATADOG_API_KEY_PARAMETER",
        "RETRY_QUEUE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "30")
    monkeypatch.setattr(
        task_events.metrics, "namespace", "ecswatch"
    )  # as deployed (test_handler does so too)
    task_events.dependencies.cache_clear()
    try:
        for name in ("running-fargate", "stopped-success", "running-fargate", "stopped-success"):
            task_events.handle_event(load_event(name))
    finally:
        task_events.dependencies.cache_clear()

    (run,) = DynamoRunHistory(dynamodb, TABLE).runs("nightly-report", since=T0)
    assert (run.outcome, run.attempt, run.stopped_at) == (
        "succeeded",
        1,
        datetime(2025, 3, 4, 2, 15, 19, 502000, tzinfo=UTC),
    )


def test_the_slow_run_check_reads_exactly_one_page_of_the_history() -> None:
    assert SLOW_RUN_READ == PAGE_SIZE


def test_a_run_whose_id_exceeds_dynamodbs_key_limits_is_recorded_and_listed(history: RunHistory) -> None:
    """Issue 13 item 3: a 2 KB CloudTrail eventID made the history write fail on every delivery."""
    run = a_run(1, outcome="failed_to_launch", run_id="launch:" + "e" * 2100)

    history.record(run)

    assert [r.run_id for r in history.runs("nightly-report", since=T0)] == [run.run_id]
