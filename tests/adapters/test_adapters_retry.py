"""Specification of the retry adapters: RunTask, DescribeTasks, a rule's network, and delayed delivery.

moto plays ECS, EventBridge, EventBridge Scheduler and SQS for the normal answers.
``botocore.stub.Stubber`` on a real client pins the exact requests (RunTask's keyword
arguments, the scheduler's ``at(...)`` expression) and plays the errors moto does not
produce on demand (throttling, capacity failures, access denied).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from msgspec.structs import replace

from ecswatch.adapters.aws.clients import ClientCache
from ecswatch.adapters.aws.ecs_runner import (
    EcsTaskRunner,
    RuleNetworkDiscovery,
    ScheduleNetworkDiscovery,
    StartedByNetworkDiscovery,
    retry_tags,
    run_task_network,
    run_task_parameters,
    task_event_from_description,
)
from ecswatch.adapters.aws.retry_scheduler import RetryQueueScheduler, at_expression, schedule_name
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.task import parse_task_event
from ecswatch.run import LaunchResult, RetryRequest

pytestmark = pytest.mark.offline

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROOT_ID = "f77fae8dc62fd89bd256b1c897d44a25"
ROOT_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{ROOT_ID}"
PREVIOUS_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/0c1a3bd4e5f60718293a4b5c6d7e8f90"
NEW_TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/9a8b7c6d5e4f30211203a4b5c6d7e8f9"
TASK_DEFINITION_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-report:7"
NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
        "securityGroups": ["sg-0123abcd"],
        "assignPublicIp": "DISABLED",
    }
}
OVERRIDES = {"containerOverrides": [{"name": "report", "command": ["--date", "2025-03-04"]}, {"name": "log"}]}
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ecswatch-retries"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ecswatch-retries"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ecswatch-retry-scheduler"
RULE = "nightly-report-0200"
FARGATE_NO_CAPACITY = (
    "Capacity is unavailable at this time. Please try again later or in a different availability zone"
)


def stubbed(clients: ClientCache, service: str, region: str = REGION) -> Stubber:
    """A Stubber on the very client the adapter will get from the cache."""
    stubber = Stubber(clients.get(service, region))
    stubber.activate()
    return stubber


def retry_request(**changes: Any) -> RetryRequest:
    """Attempt 2 of 3 of a Fargate Spot run, as the coordinator builds it from the stop event."""
    base = RetryRequest(
        job="nightly-report",
        root_task_arn=ROOT_ARN,
        previous_task_arn=PREVIOUS_ARN,
        attempt=2,
        of=3,
        region=REGION,
        cluster="batch",
        task_definition_arn=TASK_DEFINITION_ARN,
        launch_type="FARGATE",
        capacity_provider="FARGATE_SPOT",
        platform_version="1.4.0",
        group="family:nightly-report",
        overrides=OVERRIDES,
        network_configuration=NETWORK,
        reason="exit code 2 is retryable",
    )
    return replace(base, **changes)


def runner(clients: ClientCache) -> EcsTaskRunner:
    return EcsTaskRunner(lambda region: clients.get("ecs", region))


def discovery(clients: ClientCache) -> RuleNetworkDiscovery:
    return RuleNetworkDiscovery(lambda region: clients.get("events", region))


def tags_for(request: RetryRequest) -> list[dict[str, str]]:
    return [
        {"key": "ecswatch:root-task", "value": ROOT_ID},
        {"key": "ecswatch:attempt", "value": str(request.attempt)},
        {"key": "ecswatch:job", "value": request.job},
    ]


def started(task_arn: str = NEW_TASK_ARN) -> dict[str, Any]:
    return {"tasks": [{"taskArn": task_arn}], "failures": []}


def refused(reason: str, detail: str | None = None) -> dict[str, Any]:
    failure = {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/batch/abc", "reason": reason}
    if detail is not None:
        failure["detail"] = detail
    return {"tasks": [], "failures": [failure]}


# --- RunTask: the request -----------------------------------------------------------------------------


def test_a_fargate_spot_retry_asks_for_the_capacity_provider_and_not_the_launch_type(
    clients: ClientCache,
) -> None:
    request = retry_request()
    stubber = stubbed(clients, "ecs")
    stubber.add_response(
        "run_task",
        started(),
        expected_params={
            "cluster": "batch",
            "taskDefinition": TASK_DEFINITION_ARN,
            "count": 1,
            "clientToken": request.client_token,
            "startedBy": "ecswatch-retry/2",
            "group": "family:nightly-report",
            "overrides": OVERRIDES,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            "platformVersion": "1.4.0",
            "networkConfiguration": NETWORK,
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": True,
            "tags": tags_for(request),
        },
    )

    runner(clients).run(request)

    stubber.assert_no_pending_responses()


def test_an_ec2_retry_names_its_launch_type_and_sends_no_platform_version(clients: ClientCache) -> None:
    request = retry_request(launch_type="EC2", capacity_provider=None, platform_version="1.4.0", attempt=3)
    stubber = stubbed(clients, "ecs")
    stubber.add_response(
        "run_task",
        started(),
        expected_params={
            "cluster": "batch",
            "taskDefinition": TASK_DEFINITION_ARN,
            "count": 1,
            "clientToken": request.client_token,
            "startedBy": "ecswatch-retry/3",
            "group": "family:nightly-report",
            "overrides": OVERRIDES,
            "launchType": "EC2",
            "networkConfiguration": NETWORK,
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": True,
            "tags": tags_for(request),
        },
    )

    runner(clients).run(request)

    stubber.assert_no_pending_responses()


def test_a_retry_without_network_group_or_overrides_sends_none_of_them(clients: ClientCache) -> None:
    request = retry_request(
        launch_type="EC2",
        capacity_provider=None,
        platform_version=None,
        group=None,
        overrides={},
        network_configuration=None,
    )
    stubber = stubbed(clients, "ecs")
    stubber.add_response(
        "run_task",
        started(),
        expected_params={
            "cluster": "batch",
            "taskDefinition": TASK_DEFINITION_ARN,
            "count": 1,
            "clientToken": request.client_token,
            "startedBy": "ecswatch-retry/2",
            "launchType": "EC2",
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": True,
            "tags": tags_for(request),
        },
    )

    runner(clients).run(request)

    stubber.assert_no_pending_responses()


def test_a_fargate_launch_type_retry_keeps_its_platform_version(clients: ClientCache) -> None:
    request = retry_request(capacity_provider=None, network_configuration=None, group=None, overrides={})
    stubber = stubbed(clients, "ecs")
    stubber.add_response(
        "run_task",
        started(),
        expected_params={
            "cluster": "batch",
            "taskDefinition": TASK_DEFINITION_ARN,
            "count": 1,
            "clientToken": request.client_token,
            "startedBy": "ecswatch-retry/2",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "propagateTags": "TASK_DEFINITION",
            "enableECSManagedTags": True,
            "tags": tags_for(request),
        },
    )

    runner(clients).run(request)

    stubber.assert_no_pending_responses()


def test_a_job_name_with_characters_ecs_tags_refuse_is_tagged_with_them_replaced() -> None:
    request = retry_request(job="reports (EU) #1")

    assert retry_tags(request)[2] == {"key": "ecswatch:job", "value": "reports _EU_ _1"}


# --- RunTask: the answer ------------------------------------------------------------------------------


def test_the_started_task_is_the_result_and_the_call_is_counted(clients: ClientCache) -> None:
    stubbed(clients, "ecs").add_response("run_task", started())
    adapter = runner(clients)

    result = adapter.run(retry_request())

    assert (result, adapter.calls) == (LaunchResult(task_arn=NEW_TASK_ARN), 1)


@pytest.mark.parametrize(
    "reason",
    ["RESOURCE:MEMORY", "RESOURCE:CPU", "RESOURCE:ENI", "RESOURCE:FARGATE", FARGATE_NO_CAPACITY, "AGENT"],
)
def test_no_capacity_now_is_transient_so_the_request_is_redelivered(
    reason: str, clients: ClientCache
) -> None:
    stubbed(clients, "ecs").add_response("run_task", refused(reason))

    with pytest.raises(TransientError, match=re.escape(reason)):
        runner(clients).run(retry_request())


@pytest.mark.parametrize(
    ("reason", "detail", "failure"),
    [
        ("MISSING", None, "MISSING"),
        ("INACTIVE", None, "INACTIVE"),
        ("LOCATION", "subnet-0a1b2c3d", "LOCATION: subnet-0a1b2c3d"),
        ("ATTRIBUTE", "ecs.capability.task-eni", "ATTRIBUTE: ecs.capability.task-eni"),
    ],
)
def test_a_placement_failure_waiting_does_not_cure_is_the_launch_failure(
    reason: str, detail: str | None, failure: str, clients: ClientCache
) -> None:
    stubbed(clients, "ecs").add_response("run_task", refused(reason, detail))

    assert runner(clients).run(retry_request()) == LaunchResult(failure=failure)


def test_an_answer_with_neither_task_nor_failure_is_a_launch_failure(clients: ClientCache) -> None:
    stubbed(clients, "ecs").add_response("run_task", {"tasks": [], "failures": []})

    assert runner(clients).run(retry_request()) == LaunchResult(
        failure="RunTask started no task and gave no reason"
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("ServerException", 500), ("ServiceUnavailableException", 503)],
)
def test_throttling_or_a_server_error_from_run_task_is_transient(
    code: str, status: int, clients: ClientCache
) -> None:
    stubbed(clients, "ecs").add_client_error("run_task", code, "Rate exceeded", http_status_code=status)

    with pytest.raises(TransientError, match=code):
        runner(clients).run(retry_request())


def test_throttling_that_ecs_reports_as_an_invalid_parameter_is_transient(clients: ClientCache) -> None:
    stubbed(clients, "ecs").add_client_error(
        "run_task",
        "InvalidParameterException",
        "Error retrieving security group information for [sg-0123abcd]: Request limit exceeded. "
        "(ErrorCode: RequestLimitExceeded)",
        http_status_code=400,
    )

    with pytest.raises(TransientError, match="RequestLimitExceeded"):
        runner(clients).run(retry_request())


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc'"),
        ("ClientException", "TaskDefinition is inactive"),
        ("PlatformTaskDefinitionIncompatibilityException", "The specified platform does not satisfy"),
        ("PlatformUnknownException", "The specified platform version does not exist"),
        ("AccessDeniedException", "not authorized to perform: iam:PassRole"),
        ("ClusterNotFoundException", "Cluster not found."),
        ("BlockedException", "Your account is blocked"),
    ],
)
def test_a_refused_run_task_is_a_launch_failure_naming_code_and_message(
    code: str, message: str, clients: ClientCache
) -> None:
    stubbed(clients, "ecs").add_client_error("run_task", code, message, http_status_code=400)

    assert runner(clients).run(retry_request()) == LaunchResult(failure=f"{code}: {message}")


def test_a_token_already_used_by_this_attempt_gives_the_task_that_call_started(
    clients: ClientCache,
) -> None:
    stubbed(clients, "ecs").add_client_error(
        "run_task",
        "ConflictException",
        "The clientToken is already in use with a different RunTask request",
        http_status_code=400,
        modeled_fields={"resourceIds": [NEW_TASK_ARN]},
    )

    assert runner(clients).run(retry_request()) == LaunchResult(task_arn=NEW_TASK_ARN)


def test_overrides_run_task_does_not_accept_are_a_launch_failure_not_a_redelivery(
    clients: ClientCache,
) -> None:
    request = retry_request(overrides={"containerOverrides": [{"name": "report", "shell": "bash"}]})

    result = runner(clients).run(request)

    assert result.task_arn is None
    assert result.failure is not None
    assert result.failure.startswith("invalid RunTask parameters:")
    assert "shell" in result.failure


class _Unreachable:
    def run_task(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://ecs.eu-west-1.amazonaws.com/")

    def list_targets_by_rule(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://events.eu-west-1.amazonaws.com/")


def test_an_unreachable_ecs_endpoint_is_transient() -> None:
    adapter = EcsTaskRunner(lambda _region: _Unreachable())  # type: ignore[arg-type,return-value]

    with pytest.raises(TransientError, match="Could not connect"):
        adapter.run(retry_request())


# --- RunTask and DescribeTasks on moto ----------------------------------------------------------------


def fargate_setup() -> tuple[str, dict[str, Any]]:
    """A cluster, a Fargate task definition and a VPC to run it in (moto checks subnets exist and
    only builds the task's network attachment in a VPC with DNS hostnames)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch jobs", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="batch")
    arn = ecs.register_task_definition(
        family="nightly-report",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "report", "image": "report:1", "memory": 512},
            {"name": "log", "image": "fluent-bit:1", "memory": 64, "essential": False},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}
    }
    return arn, network


def test_moto_starts_the_retry_on_its_cluster_tagged_with_its_run(aws: None, clients: ClientCache) -> None:
    task_definition, network = fargate_setup()
    request = retry_request(task_definition_arn=task_definition, network_configuration=network)

    result = runner(clients).run(request)

    assert result.task_arn is not None
    task = boto3.client("ecs", region_name=REGION).describe_tasks(
        cluster="batch", tasks=[result.task_arn], include=["TAGS"]
    )["tasks"][0]
    assert (task["startedBy"], task["capacityProviderName"], task["group"]) == (
        "ecswatch-retry/2",
        "FARGATE_SPOT",
        "family:nightly-report",
    )
    assert task["overrides"]["containerOverrides"][0] == OVERRIDES["containerOverrides"][0]
    assert task["tags"] == tags_for(request)


def test_describe_task_reads_a_task_with_its_tags(aws: None, clients: ClientCache) -> None:
    task_definition, network = fargate_setup()
    adapter = runner(clients)
    arn = adapter.run(retry_request(task_definition_arn=task_definition, network_configuration=network))
    assert arn.task_arn is not None

    task = adapter.describe_task(REGION, arn.task_arn)

    assert task is not None
    assert task["taskArn"] == arn.task_arn
    assert {"key": "ecswatch:attempt", "value": "2"} in task["tags"]


@pytest.mark.parametrize(
    "task_arn",
    [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/00000000000000000000000000000000",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/no-such-cluster/00000000000000000000000000000000",
    ],
    ids=["unknown-task", "unknown-cluster"],
)
def test_describing_a_task_ecs_does_not_know_is_none(task_arn: str, aws: None, clients: ClientCache) -> None:
    fargate_setup()

    assert runner(clients).describe_task(REGION, task_arn) is None


def test_access_denied_describing_a_task_says_which_permission_is_missing(clients: ClientCache) -> None:
    stubbed(clients, "ecs").add_client_error(
        "describe_tasks", "AccessDeniedException", "not authorized", http_status_code=400
    )

    with pytest.raises(DeliveryError, match="ecs:DescribeTasks"):
        runner(clients).describe_task(REGION, ROOT_ARN)


def test_a_described_task_reads_back_as_the_stop_event_of_that_task(aws: None, clients: ClientCache) -> None:
    task_definition, network = fargate_setup()
    adapter = runner(clients)
    launched = adapter.run(retry_request(task_definition_arn=task_definition, network_configuration=network))
    assert launched.task_arn is not None
    boto3.client("ecs", region_name=REGION).stop_task(
        cluster="batch", task=launched.task_arn, reason="Essential container in task exited"
    )
    task = adapter.describe_task(REGION, launched.task_arn)
    assert task is not None

    event = parse_task_event(
        task_event_from_description(task, REGION, ACCOUNT, now=datetime(2025, 3, 4, 2, 5, 31, tzinfo=UTC))
    )

    assert (event.task.arn, event.task.cluster, event.task.account) == (launched.task_arn, "batch", ACCOUNT)
    assert event.task_definition.family_revision == "nightly-report:1"
    assert (event.last_status, event.stopped_reason) == ("STOPPED", "Essential container in task exited")
    assert (event.started_by, event.capacity_provider, event.group) == (
        "ecswatch-retry/2",
        "FARGATE_SPOT",
        "family:nightly-report",
    )
    assert event.container("report") is not None  # moto describes only a definition's first container
    assert event.raw_overrides == OVERRIDES
    assert (event.event_id, event.event_time) == (
        f"manual-{launched.task_arn.rsplit('/', 1)[-1]}",
        datetime(2025, 3, 4, 2, 5, 31, tzinfo=UTC),
    )


def test_described_timestamps_become_utc_event_timestamps_of_the_same_instant() -> None:
    cest = timezone(timedelta(hours=2))
    task = {
        "taskArn": ROOT_ARN,
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
        "taskDefinitionArn": TASK_DEFINITION_ARN,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "createdAt": datetime(2025, 3, 4, 4, 0, 11, 907000, tzinfo=cest),
        "startedAt": datetime(2025, 3, 4, 2, 0, 40, tzinfo=UTC),
        "stoppedAt": datetime(2025, 3, 4, 2, 5, 30, 123456),
        "containers": [
            {
                "name": "report",
                "exitCode": 2,
                "managedAgents": [{"lastStartedAt": datetime(2025, 3, 4, 2, 0, 41)}],
            }
        ],
    }

    raw = task_event_from_description(task, REGION, ACCOUNT, now=datetime(2025, 3, 4, 2, 5, 31, tzinfo=UTC))

    detail = raw["detail"]
    assert (detail["createdAt"], detail["startedAt"], detail["stoppedAt"]) == (
        "2025-03-04T02:00:11.907Z",
        "2025-03-04T02:00:40.000Z",
        "2025-03-04T02:05:30.123Z",
    )
    assert detail["containers"][0]["managedAgents"][0]["lastStartedAt"] == "2025-03-04T02:00:41.000Z"
    assert raw["time"] == "2025-03-04T02:05:31Z"
    json.dumps(raw)  # the event is plain JSON, as EventBridge would deliver it
    event = parse_task_event(raw)
    assert event.timeline.created == datetime(2025, 3, 4, 2, 0, 11, 907000, tzinfo=UTC)
    assert event.container("report") is not None


# --- the rule's network -------------------------------------------------------------------------------


def ecs_target(target_id: str, task_definition: str, network: dict[str, Any] | None) -> dict[str, Any]:
    ecs: dict[str, Any] = {"TaskDefinitionArn": task_definition, "LaunchType": "FARGATE"}
    if network is not None:
        ecs["NetworkConfiguration"] = network
    return {
        "Id": target_id,
        "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsEventsRole",
        "EcsParameters": ecs,
    }


EVENTS_NETWORK = {
    "awsvpcConfiguration": {
        "Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
        "SecurityGroups": ["sg-0123abcd"],
        "AssignPublicIp": "DISABLED",
    }
}


def put_rule(name: str, *targets: Any) -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name=name, ScheduleExpression="cron(0 2 * * ? *)")
    events.put_targets(Rule=name, Targets=list(targets))


def test_the_network_of_the_rule_that_started_a_task_is_read_in_run_task_shape(
    aws: None, clients: ClientCache
) -> None:
    put_rule(RULE, ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK))

    network = discovery(clients).network_for(REGION, f"events-rule/{RULE}")

    assert network == NETWORK


def test_an_unknown_rule_has_no_network_and_is_not_asked_for_again(aws: None, clients: ClientCache) -> None:
    adapter = discovery(clients)

    results = [adapter.network_for(REGION, "events-rule/deleted-rule") for _ in range(2)]

    assert (results, adapter.calls) == ([None, None], 1)


def test_two_lookups_of_one_rule_cost_one_list_targets_call(clients: ClientCache) -> None:
    stubber = stubbed(clients, "events")
    stubber.add_response(
        "list_targets_by_rule",
        {"Targets": [ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK)]},
        expected_params={"Rule": RULE},
    )
    adapter = discovery(clients)

    results = [adapter.network_for(REGION, f"events-rule/{RULE}") for _ in range(2)]

    assert results == [NETWORK, NETWORK]
    stubber.assert_no_pending_responses()
    assert adapter.calls == 1


def test_a_rule_whose_targets_carry_no_network_gives_none_once(clients: ClientCache) -> None:
    stubber = stubbed(clients, "events")
    stubber.add_response(
        "list_targets_by_rule",
        {
            "Targets": [
                ecs_target("bridge-mode", TASK_DEFINITION_ARN, None),
                {"Id": "notify", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify"},
            ]
        },
    )
    adapter = discovery(clients)

    results = [adapter.network_for(REGION, f"events-rule/{RULE}") for _ in range(2)]

    assert (results, adapter.calls) == ([None, None], 1)


@pytest.mark.parametrize(
    "started_by",
    [None, "", "ecs-svc/4827339571047738211", "ecswatch-retry/2", "chronos-schedule/nightly", "events-rule/"],
)
def test_a_task_no_rule_started_has_no_rule_network_and_costs_no_call(started_by: str | None) -> None:
    def no_client(region: str) -> Any:
        raise AssertionError(f"no EventBridge call expected ({region})")

    assert RuleNetworkDiscovery(no_client).network_for(REGION, started_by) is None


def test_the_targets_of_a_rule_are_read_page_by_page(clients: ClientCache) -> None:
    stubber = stubbed(clients, "events")
    stubber.add_response(
        "list_targets_by_rule",
        {
            "Targets": [{"Id": "notify", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:notify"}],
            "NextToken": "page-2",
        },
        expected_params={"Rule": RULE},
    )
    stubber.add_response(
        "list_targets_by_rule",
        {"Targets": [ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK)]},
        expected_params={"Rule": RULE, "NextToken": "page-2"},
    )
    adapter = discovery(clients)

    network = adapter.network_for(REGION, f"events-rule/{RULE}")

    assert (network, adapter.calls) == (NETWORK, 2)


def test_with_its_task_definition_a_task_gets_the_network_of_its_own_target(
    aws: None, clients: ClientCache
) -> None:
    other = {"awsvpcConfiguration": {"Subnets": ["subnet-99999999"], "AssignPublicIp": "ENABLED"}}
    put_rule(
        RULE,
        ecs_target("cleanup", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-cleanup", other),
        ecs_target(
            "report", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-report", EVENTS_NETWORK
        ),
    )
    adapter = discovery(clients)

    own = adapter.network_for(REGION, f"events-rule/{RULE}", TASK_DEFINITION_ARN)
    first = adapter.network_for(REGION, f"events-rule/{RULE}")

    assert own == NETWORK
    assert first == {"awsvpcConfiguration": {"subnets": ["subnet-99999999"], "assignPublicIp": "ENABLED"}}
    assert adapter.calls == 1


def test_a_rule_name_cut_at_36_characters_is_found_by_its_beginning(aws: None, clients: ClientCache) -> None:
    name = "nightly-report-warehouse-eu-west-1-full"
    put_rule(name, ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK))
    put_rule("nightly-report-0200", ecs_target("report", TASK_DEFINITION_ARN, None))
    started_by = f"events-rule/{name}"[:36]

    assert discovery(clients).network_for(REGION, started_by) == NETWORK


def test_a_cut_rule_name_that_begins_two_rules_gives_no_network(aws: None, clients: ClientCache) -> None:
    put_rule("nightly-report-warehouse-eu-west-1-full", ecs_target("a", TASK_DEFINITION_ARN, EVENTS_NETWORK))
    put_rule("nightly-report-warehouse-eu-west-1-delta", ecs_target("b", TASK_DEFINITION_ARN, EVENTS_NETWORK))

    assert (
        discovery(clients).network_for(REGION, "events-rule/nightly-report-warehouse-eu-west-1-full"[:36])
        is None
    )


def test_access_denied_to_the_rules_targets_is_no_network(clients: ClientCache) -> None:
    stubbed(clients, "events").add_client_error(
        "list_targets_by_rule", "AccessDeniedException", "not authorized", http_status_code=400
    )

    assert discovery(clients).network_for(REGION, f"events-rule/{RULE}") is None


def test_access_denied_is_not_remembered_so_a_fixed_policy_works_on_the_next_retry(
    clients: ClientCache,
) -> None:
    stubber = stubbed(clients, "events")
    stubber.add_client_error("list_targets_by_rule", "AccessDeniedException", "not authorized", 400)
    stubber.add_response(
        "list_targets_by_rule", {"Targets": [ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK)]}
    )
    adapter = discovery(clients)

    first = adapter.network_for(REGION, f"events-rule/{RULE}")
    second = adapter.network_for(REGION, f"events-rule/{RULE}")

    assert (first, second) == (None, NETWORK)


def test_a_retry_carries_at_most_fifty_tags_and_none_with_the_reserved_aws_prefix() -> None:
    recorded = [{"key": "aws:cloudformation:stack-name", "value": "x"}] + [
        {"key": f"team{i}", "value": "billing"} for i in range(60)
    ]

    params = run_task_parameters(retry_request(run_task_extras={"tags": recorded}))

    assert len(params["tags"]) == 50
    assert not any(tag["key"].startswith("aws:") for tag in params["tags"])
    assert all(tag in params["tags"] for tag in tags_for(retry_request()))


def test_throttled_discovery_is_transient_and_asked_again_on_redelivery(clients: ClientCache) -> None:
    stubber = stubbed(clients, "events")
    stubber.add_client_error("list_targets_by_rule", "ThrottlingException", "Rate exceeded", 400)
    stubber.add_response(
        "list_targets_by_rule", {"Targets": [ecs_target("r", TASK_DEFINITION_ARN, EVENTS_NETWORK)]}
    )
    adapter = discovery(clients)
    with pytest.raises(TransientError, match="ThrottlingException"):
        adapter.network_for(REGION, f"events-rule/{RULE}")

    network = adapter.network_for(REGION, f"events-rule/{RULE}")

    assert network == NETWORK


def test_an_unreachable_events_endpoint_is_transient() -> None:
    adapter = RuleNetworkDiscovery(lambda _region: _Unreachable())  # type: ignore[arg-type,return-value]

    with pytest.raises(TransientError):
        adapter.network_for(REGION, f"events-rule/{RULE}")


@pytest.mark.parametrize(
    ("events_network", "expected"),
    [
        (
            {"awsvpcConfiguration": {"Subnets": ["subnet-1"]}},
            {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}},
        ),
        ({"awsvpcConfiguration": {"Subnets": []}}, None),
        (None, None),
    ],
    ids=["defaults", "no-subnets", "none"],
)
def test_an_events_network_without_optional_fields_converts_like_a_configured_one(
    events_network: dict[str, Any] | None, expected: dict[str, Any] | None
) -> None:
    assert run_task_network(events_network) == expected


# --- delayed delivery ---------------------------------------------------------------------------------

NOW = datetime(2025, 3, 4, 2, 5, 31, tzinfo=UTC)


def scheduler(clients: ClientCache, **changes: Any) -> RetryQueueScheduler:
    options: dict[str, Any] = {
        "scheduler_client": clients.get("scheduler", REGION),
        "scheduler_role_arn": SCHEDULER_ROLE_ARN,
        "queue_arn": QUEUE_ARN,
        "clock": lambda: NOW,
    }
    options.update(changes)
    queue_url = options.pop("queue_url", QUEUE_URL)
    return RetryQueueScheduler(clients.get("sqs", REGION), queue_url, **options)


def create_queue() -> tuple[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="ecswatch-retries")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def test_a_retry_due_now_is_an_sqs_message_carrying_the_request(aws: None, clients: ClientCache) -> None:
    url, _ = create_queue()
    request = retry_request()

    message_id = scheduler(clients, queue_url=url).schedule(request, 0)

    received = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=url, MessageAttributeNames=["All"]
    )["Messages"]
    assert [m["MessageId"] for m in received] == [message_id]
    assert RetryRequest.from_json(received[0]["Body"]) == request
    attributes = received[0]["MessageAttributes"]
    assert (attributes["job"]["StringValue"], attributes["attempt"]["StringValue"]) == ("nightly-report", "2")


def test_a_delayed_message_is_not_delivered_before_its_delay(aws: None, clients: ClientCache) -> None:
    url, _ = create_queue()
    sqs = boto3.client("sqs", region_name=REGION)

    scheduler(clients, queue_url=url).schedule(retry_request(), 900)

    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"


def test_fifteen_minutes_is_still_an_sqs_delay(clients: ClientCache) -> None:
    request = retry_request()
    stubber = stubbed(clients, "sqs")
    stubber.add_response(
        "send_message",
        {"MessageId": "5fea7756-0ea4-451a-a703-a558b933e274"},
        expected_params={
            "QueueUrl": QUEUE_URL,
            "MessageBody": request.to_json(),
            "DelaySeconds": 900,
            "MessageAttributes": {
                "job": {"DataType": "String", "StringValue": "nightly-report"},
                "attempt": {"DataType": "Number", "StringValue": "2"},
            },
        },
    )
    adapter = scheduler(clients)

    assert adapter.schedule(request, 900) == "5fea7756-0ea4-451a-a703-a558b933e274"
    stubber.assert_no_pending_responses()
    assert (adapter.sent, adapter.scheduled) == (1, 0)


def test_a_second_longer_is_a_one_time_schedule_at_that_utc_second(clients: ClientCache) -> None:
    request = retry_request()
    stubber = stubbed(clients, "scheduler")
    stubber.add_response(
        "create_schedule",
        {"ScheduleArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{schedule_name(request)}"},
        expected_params={
            "Name": schedule_name(request),
            "Description": "ecswatch retry 2/3 of nightly-report",
            "ScheduleExpression": "at(2025-03-04T02:20:32)",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": QUEUE_ARN, "RoleArn": SCHEDULER_ROLE_ARN, "Input": request.to_json()},
            "ActionAfterCompletion": "DELETE",
            "ClientToken": request.client_token,
        },
    )
    adapter = scheduler(clients)

    assert adapter.schedule(request, 901) == schedule_name(request)
    stubber.assert_no_pending_responses()
    assert (adapter.sent, adapter.scheduled) == (0, 1)


def test_a_schedule_scheduler_cannot_deliver_dead_letters_to_the_retry_dlq(
    aws: None, clients: ClientCache
) -> None:
    url, arn = create_queue()
    dlq = arn.replace("ecswatch-retries", "ecswatch-retries-dlq")

    name = scheduler(clients, queue_url=url, queue_arn=arn, dead_letter_arn=dlq).schedule(
        retry_request(), 3600
    )

    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(Name=name)
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": dlq}


def test_the_at_expression_is_in_utc_whatever_zone_the_clock_speaks() -> None:
    cest = timezone(timedelta(hours=2))

    assert at_expression(datetime(2025, 3, 4, 4, 20, 32, 999999, tzinfo=cest)) == "at(2025-03-04T02:20:32)"


def test_a_schedule_name_is_a_valid_name_owned_by_one_run_and_attempt() -> None:
    name = schedule_name(retry_request())

    assert re.fullmatch(r"[0-9a-zA-Z\-_.]{1,64}", name)
    assert name == "ecswatch-retry-" + hashlib.sha256(f"{ROOT_ARN}#2".encode()).hexdigest()[:32]
    assert schedule_name(retry_request(reason="manual", trigger="manual")) == name
    assert schedule_name(retry_request(attempt=3)) != name


def test_moto_holds_the_schedule_with_the_request_as_its_input(aws: None, clients: ClientCache) -> None:
    url, arn = create_queue()
    request = retry_request()

    name = scheduler(clients, queue_url=url, queue_arn=arn).schedule(request, 3600)

    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(Name=name)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "at(2025-03-04T03:05:31)",
        "UTC",
    )
    assert (schedule["ActionAfterCompletion"], schedule["FlexibleTimeWindow"]) == ("DELETE", {"Mode": "OFF"})
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (arn, SCHEDULER_ROLE_ARN)
    assert RetryRequest.from_json(schedule["Target"]["Input"]) == request


def test_scheduling_the_same_retry_twice_gives_the_same_schedule(aws: None, clients: ClientCache) -> None:
    url, arn = create_queue()
    adapter = scheduler(clients, queue_url=url, queue_arn=arn)

    names = [adapter.schedule(retry_request(), 3600), adapter.schedule(retry_request(), 3600)]

    assert names[0] == names[1]
    listed = boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"]
    assert [s["Name"] for s in listed] == [names[0]]


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"scheduler_client": None}, "set RETRY_SCHEDULER_ROLE_ARN$"),
        ({"scheduler_role_arn": None}, "set RETRY_SCHEDULER_ROLE_ARN$"),
        ({"queue_arn": None}, "set RETRY_QUEUE_ARN$"),
        ({"scheduler_client": None, "queue_arn": None}, "set RETRY_SCHEDULER_ROLE_ARN and RETRY_QUEUE_ARN$"),
    ],
)
def test_a_long_delay_without_the_scheduler_configured_says_what_to_set(
    changes: dict[str, Any], missing: str, clients: ClientCache
) -> None:
    with pytest.raises(DeliveryError, match=missing):
        scheduler(clients, **changes).schedule(retry_request(), 901)


def test_a_short_delay_needs_no_scheduler(aws: None, clients: ClientCache) -> None:
    url, _ = create_queue()
    adapter = RetryQueueScheduler(clients.get("sqs", REGION), url)

    assert adapter.schedule(retry_request(), 60)


def test_sending_to_a_queue_that_does_not_exist_says_to_check_the_queue_url(
    aws: None, clients: ClientCache
) -> None:
    with pytest.raises(DeliveryError, match="RETRY_QUEUE_URL"):
        scheduler(clients).schedule(retry_request(), 60)


@pytest.mark.parametrize(
    ("code", "status"),
    [("RequestThrottled", 400), ("KmsThrottled", 400), ("InternalError", 500)],
)
def test_throttling_or_a_server_error_sending_the_message_is_transient(
    code: str, status: int, clients: ClientCache
) -> None:
    stubbed(clients, "sqs").add_client_error("send_message", code, "slow down", http_status_code=status)

    with pytest.raises(TransientError, match=code):
        scheduler(clients).schedule(retry_request(), 60)


def test_access_denied_sending_the_message_names_the_permission(clients: ClientCache) -> None:
    stubbed(clients, "sqs").add_client_error("send_message", "AccessDenied", "no", http_status_code=403)

    with pytest.raises(DeliveryError, match="sqs:SendMessage"):
        scheduler(clients).schedule(retry_request(), 60)


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("InternalServerException", 500)],
)
def test_throttling_or_a_server_error_creating_the_schedule_is_transient(
    code: str, status: int, clients: ClientCache
) -> None:
    stubbed(clients, "scheduler").add_client_error("create_schedule", code, "later", http_status_code=status)

    with pytest.raises(TransientError, match=code):
        scheduler(clients).schedule(retry_request(), 3600)


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("AccessDeniedException", "iam:PassRole on RETRY_SCHEDULER_ROLE_ARN"),
        ("ValidationException", "check RETRY_SCHEDULER_ROLE_ARN and RETRY_QUEUE_ARN"),
    ],
)
def test_a_refused_schedule_is_a_delivery_error_naming_the_fix(
    code: str, hint: str, clients: ClientCache
) -> None:
    stubbed(clients, "scheduler").add_client_error("create_schedule", code, "refused", http_status_code=400)

    with pytest.raises(DeliveryError, match=re.escape(hint)):
        scheduler(clients).schedule(retry_request(), 3600)


# --- the EventBridge Scheduler schedule's network -----------------------------------------------------


def put_schedule(name: str, network: dict[str, Any] | None) -> None:
    ecs: dict[str, Any] = {"TaskDefinitionArn": TASK_DEFINITION_ARN, "LaunchType": "FARGATE"}
    if network is not None:
        ecs["NetworkConfiguration"] = {"awsvpcConfiguration": network["awsvpcConfiguration"]}
    boto3.client("scheduler", region_name=REGION).create_schedule(
        Name=name,
        ScheduleExpression="cron(0 * * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/data-sync-scheduler",
            "EcsParameters": ecs,
        },
    )


def schedules(clients: ClientCache) -> ScheduleNetworkDiscovery:
    return ScheduleNetworkDiscovery(lambda region: clients.get("scheduler", region))


def test_the_network_of_the_schedule_that_started_a_task_is_read_in_run_task_shape(
    aws: None, clients: ClientCache
) -> None:
    put_schedule("data-sync-hourly", EVENTS_NETWORK)

    network = schedules(clients).network_for(REGION, "chronos-schedule/data-sync-hourly")

    assert network == NETWORK


def test_a_schedule_name_cut_at_36_characters_is_found_by_its_beginning(
    aws: None, clients: ClientCache
) -> None:
    put_schedule("warehouse-nightly-load-eu-west-1", EVENTS_NETWORK)
    cut = "chronos-schedule/warehouse-nightly-load-eu-west-1"[:36]

    network = schedules(clients).network_for(REGION, cut)

    assert network == NETWORK


def test_a_schedule_read_once_serves_a_burst_of_retries(aws: None, clients: ClientCache) -> None:
    put_schedule("data-sync-hourly", EVENTS_NETWORK)
    adapter = schedules(clients)

    for _ in range(3):
        adapter.network_for(REGION, "chronos-schedule/data-sync-hourly")

    assert adapter.calls == 1


def test_the_network_comes_from_the_rule_or_the_schedule_whichever_started_the_task(
    aws: None, clients: ClientCache
) -> None:
    put_rule(RULE, ecs_target("report", TASK_DEFINITION_ARN, EVENTS_NETWORK))
    put_schedule("data-sync-hourly", EVENTS_NETWORK)
    either = StartedByNetworkDiscovery(discovery(clients), schedules(clients))

    assert either.network_for(REGION, f"events-rule/{RULE}") == NETWORK
    assert either.network_for(REGION, "chronos-schedule/data-sync-hourly") == NETWORK
    assert either.network_for(REGION, "ecs-svc/123") is None


def test_a_refusal_that_quotes_a_secret_is_told_redacted(clients: ClientCache) -> None:
    message = "Invalid secret ARN in containerDefinitions: https://robot:ghp_abcdefghijklmnopqrstuvwxyz0123456789@registry.example.com"
    stubbed(clients, "ecs").add_client_error(
        "run_task", "InvalidParameterException", message, http_status_code=400
    )

    failure = runner(clients).run(retry_request()).failure

    assert failure is not None
    assert failure.startswith("InvalidParameterException: Invalid secret ARN")
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in failure


def test_a_placement_failure_that_quotes_a_secret_is_told_redacted(clients: ClientCache) -> None:
    stubbed(clients, "ecs").add_response(
        "run_task",
        {
            "tasks": [],
            "failures": [
                {"reason": "MISSING", "detail": "password=hunter2hunter2 in the task's environment"}
            ],
        },
    )

    failure = runner(clients).run(retry_request()).failure

    assert failure is not None
    assert "hunter2hunter2" not in failure
