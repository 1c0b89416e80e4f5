"""Specification of the boto3 adapters: what AWS answers, and what its errors become.

moto plays ECS and CloudWatch Logs for the normal answers. Throttling and access denied are answered by
``botocore.stub.Stubber`` on a real client, because moto does not produce them on demand.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from ecswatch.adapters.aws.clients import ClientCache
from ecswatch.adapters.aws.reads import CloudWatchLogReader, EcsTaskDefinitions
from ecswatch.errors import TransientError
from ecswatch.events.taskdef import LogConfig
from ecswatch.run import LogTail
from local.aws import FAKE_CREDENTIALS, seed_logs, seed_task_definitions

pytestmark = pytest.mark.offline

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

ACCOUNT = "123456789012"
INVOICE_EXPORT_ARN = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/invoice-export:12"
UNKNOWN_ARN = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/never-registered:1"
GROUP = "/ecs/nightly-report"
STREAM = "ecs/report/c50ead5370796d06e8a8c6c917151c46"


def task_definitions(clients: ClientCache) -> EcsTaskDefinitions:
    return EcsTaskDefinitions(lambda region: clients.get("ecs", region))


def log_reader(clients: ClientCache) -> CloudWatchLogReader:
    return CloudWatchLogReader(lambda region: clients.get("logs", region))


def write_log(lines: list[str], group: str = GROUP, stream: str = STREAM) -> None:
    """Recent timestamps: CloudWatch Logs (and moto) drop events older than 14 days."""
    logs = boto3.client("logs", region_name="eu-west-1")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    if lines:
        now_ms = int(time.time() * 1000)
        events: list[InputLogEventTypeDef] = [
            {"timestamp": now_ms - len(lines) + i, "message": line} for i, line in enumerate(lines)
        ]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def stubbed(clients: ClientCache, service: str, region: str = "eu-west-1") -> Stubber:
    """A Stubber on the very client the adapter will get from the cache."""
    stubber = Stubber(clients.get(service, region))
    stubber.activate()
    return stubber


# --- EcsTaskDefinitions -------------------------------------------------------------------------------


def test_a_task_definition_is_read_with_each_containers_essential_flag_and_log_configuration(
    aws: None, clients: ClientCache
) -> None:
    seed_task_definitions()

    found = task_definitions(clients).get(INVOICE_EXPORT_ARN)

    assert found is not None
    assert (found.arn, found.family, found.revision, found.essential_names) == (
        INVOICE_EXPORT_ARN,
        "invoice-export",
        12,
        ("export", "datadog-agent"),
    )
    export = found.container("export")
    assert export is not None
    assert export.log == LogConfig(
        "awslogs",
        {
            "awslogs-group": "/ecs/invoice-export",
            "awslogs-region": "eu-west-1",
            "awslogs-stream-prefix": "ecs",
        },
    )


def test_a_firelens_router_and_a_firelens_logging_container_are_told_apart(
    aws: None, clients: ClientCache
) -> None:
    seed_task_definitions()

    found = task_definitions(clients).get(f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/audit-export:2")

    assert found is not None
    router, audit = found.container("log_router"), found.container("audit")
    assert router is not None
    assert audit is not None
    assert (router.is_firelens_router, audit.is_firelens_router) == (True, False)
    assert audit.log is not None
    assert (audit.log.driver, audit.log.options.get("Name")) == ("awsfirelens", "cloudwatch_logs")


def test_a_container_marked_not_essential_is_not_essential(aws: None, clients: ClientCache) -> None:
    arn = boto3.client("ecs", region_name="eu-west-1").register_task_definition(
        family="with-helper",
        containerDefinitions=[
            {"name": "app", "image": "app:1", "memory": 256},
            {"name": "warm-cache", "image": "warm:1", "memory": 128, "essential": False},
        ],
    )["taskDefinition"]["taskDefinitionArn"]

    found = task_definitions(clients).get(arn)

    assert found is not None
    assert found.essential_names == ("app",)


def test_the_definition_is_looked_up_in_the_region_its_arn_names(aws: None, clients: ClientCache) -> None:
    seed_task_definitions()

    found = task_definitions(clients).get(f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/image-resize:3")

    assert found is not None
    assert found.network_mode == "bridge"


def test_many_lookups_of_one_arn_cost_one_describe_call(aws: None, clients: ClientCache) -> None:
    seed_task_definitions()
    adapter = task_definitions(clients)

    results = [adapter.get(INVOICE_EXPORT_ARN) for _ in range(5)]

    assert adapter.calls == 1
    assert all(result is results[0] for result in results)


def test_an_unknown_arn_is_none_and_is_not_asked_for_again(aws: None, clients: ClientCache) -> None:
    adapter = task_definitions(clients)

    results = [adapter.get(UNKNOWN_ARN), adapter.get(UNKNOWN_ARN)]

    assert results == [None, None]
    assert adapter.calls == 1


def test_access_denied_to_a_task_definition_is_none_not_an_error(clients: ClientCache) -> None:
    stubber = stubbed(clients, "ecs")
    stubber.add_client_error(
        "describe_task_definition",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: ecs:DescribeTaskDefinition",
        http_status_code=400,
        expected_params={"taskDefinition": INVOICE_EXPORT_ARN},
    )

    assert task_definitions(clients).get(INVOICE_EXPORT_ARN) is None
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ServerException", 500)],
)
def test_throttling_or_a_server_error_looking_up_a_definition_is_transient(
    code: str, status: int, clients: ClientCache
) -> None:
    stubber = stubbed(clients, "ecs")
    stubber.add_client_error("describe_task_definition", code, "try again", http_status_code=status)

    with pytest.raises(TransientError, match=code):
        task_definitions(clients).get(INVOICE_EXPORT_ARN)


def test_a_throttled_lookup_is_not_cached_so_the_redelivery_asks_again(clients: ClientCache) -> None:
    stubber = stubbed(clients, "ecs")
    stubber.add_client_error("describe_task_definition", "ThrottlingException", "Rate exceeded", 400)
    stubber.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "taskDefinitionArn": INVOICE_EXPORT_ARN,
                "family": "invoice-export",
                "revision": 12,
                "containerDefinitions": [{"name": "export", "image": "export:1", "essential": True}],
            }
        },
    )
    adapter = task_definitions(clients)
    with pytest.raises(TransientError):
        adapter.get(INVOICE_EXPORT_ARN)

    found = adapter.get(INVOICE_EXPORT_ARN)

    assert found is not None
    assert (found.family, adapter.calls) == ("invoice-export", 2)


class _Unreachable:
    """A client whose endpoint cannot be reached (a BotoCoreError, not a ClientError)."""

    def describe_task_definition(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://ecs.eu-west-1.amazonaws.com/")

    def get_log_events(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://logs.eu-west-1.amazonaws.com/")


def test_an_unreachable_ecs_endpoint_is_transient() -> None:
    adapter = EcsTaskDefinitions(lambda _region: _Unreachable())  # type: ignore[arg-type,return-value]

    with pytest.raises(TransientError, match="Could not connect"):
        adapter.get(INVOICE_EXPORT_ARN)


# --- CloudWatchLogReader ------------------------------------------------------------------------------


def test_the_tail_is_the_newest_lines_in_log_order(aws: None, clients: ClientCache) -> None:
    write_log([f"line {i}" for i in range(50)])

    tail = log_reader(clients).tail("eu-west-1", GROUP, STREAM, 5)

    assert tail == LogTail(lines=("line 45", "line 46", "line 47", "line 48", "line 49"))


def test_a_trailing_newline_in_a_log_event_is_not_shown(aws: None, clients: ClientCache) -> None:
    write_log(["started\n", "failed: upstream 502\n"])

    tail = log_reader(clients).tail("eu-west-1", GROUP, STREAM, 30)

    assert tail.lines == ("started", "failed: upstream 502")


def test_the_seeded_failing_export_ends_with_its_exit_message(aws: None, clients: ClientCache) -> None:
    seed_logs()

    tail = log_reader(clients).tail(
        "eu-west-1", "/ecs/invoice-export", "ecs/export/f77fae8dc62fd89bd256b1c897d44a25", 2
    )

    assert tail.lines[-1].endswith(
        "CRITICAL invoice_export.main exiting with status 2 (upstream unavailable)"
    )
    assert len(tail.lines) == 2


@pytest.mark.parametrize(
    "group",
    [GROUP, "/ecs/no-such-group"],
    ids=["missing-stream", "missing-group"],
)
def test_a_missing_log_stream_is_a_note_not_an_error(group: str, aws: None, clients: ClientCache) -> None:
    write_log(["something else"], stream="ecs/report/another-task")

    tail = log_reader(clients).tail("eu-west-1", group, STREAM, 30)

    assert tail == LogTail(note=f"log stream {group} / {STREAM} not found (expired, or never written)")


def test_an_empty_log_stream_is_a_note(aws: None, clients: ClientCache) -> None:
    write_log([])

    tail = log_reader(clients).tail("eu-west-1", GROUP, STREAM, 30)

    assert tail == LogTail(note="the log stream is empty")


def test_access_denied_to_a_log_group_is_a_note_naming_the_permission(clients: ClientCache) -> None:
    stubber = stubbed(clients, "logs")
    stubber.add_client_error(
        "get_log_events",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: logs:GetLogEvents",
        http_status_code=400,
        expected_params={"logGroupName": GROUP, "logStreamName": STREAM, "limit": 30, "startFromHead": False},
    )

    tail = log_reader(clients).tail("eu-west-1", GROUP, STREAM, 30)

    assert tail == LogTail(
        note=f"not allowed to read {GROUP} (AccessDeniedException); grant logs:GetLogEvents"
    )
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ServiceUnavailableException", 503)],
)
def test_throttling_or_an_unavailable_service_reading_logs_is_transient(
    code: str, status: int, clients: ClientCache
) -> None:
    stubber = stubbed(clients, "logs")
    stubber.add_client_error("get_log_events", code, "try again", http_status_code=status)

    with pytest.raises(TransientError, match=code):
        log_reader(clients).tail("eu-west-1", GROUP, STREAM, 30)


def test_an_unreachable_logs_endpoint_is_transient() -> None:
    reader = CloudWatchLogReader(lambda _region: _Unreachable())  # type: ignore[arg-type,return-value]

    with pytest.raises(TransientError, match="Could not connect"):
        reader.tail("eu-west-1", GROUP, STREAM, 30)


# --- ClientCache --------------------------------------------------------------------------------------


def test_the_client_cache_returns_the_same_client_for_the_same_service_and_region(
    clients: ClientCache,
) -> None:
    first = clients.get("logs", "eu-west-1")

    assert clients.get("logs", "eu-west-1") is first
    assert len(clients) == 1


def test_the_client_cache_keeps_one_client_per_service_and_region(clients: ClientCache) -> None:
    eu_logs = clients.get("logs", "eu-west-1")
    us_logs = clients.get("logs", "us-east-1")
    eu_ecs = clients.get("ecs", "eu-west-1")

    assert len({id(eu_logs), id(us_logs), id(eu_ecs)}) == 3
    assert (us_logs.meta.region_name, eu_ecs.meta.service_model.service_name) == ("us-east-1", "ecs")
    assert len(clients) == 3


def test_a_client_without_a_region_uses_the_default_region(clients: ClientCache) -> None:
    assert clients.get("ecs").meta.region_name == FAKE_CREDENTIALS["AWS_DEFAULT_REGION"]
