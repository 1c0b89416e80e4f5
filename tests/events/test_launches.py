"""Specification of ``ecswatch.events.cloudtrail``:
RunTask calls read from CloudTrail, what failed, who launched them,
whether to retry, where to look, and which job they belong to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from ecswatch.config.loader import load_config
from ecswatch.config.model import JobsConfig, MatchRule, launch_matches, matching_job
from ecswatch.events.cloudtrail import (
    LaunchAttempt,
    LaunchFailureKind,
    PlacementFailure,
    cloudtrail_event_url,
    failure_kind,
    is_retryable_launch,
    is_runtask_call,
    launch_cause,
    launcher,
    launcher_url,
    parse_launch,
    rule_name,
    rule_url,
    schedule_name,
    schedule_url,
)
from ecswatch.events.task import MalformedEvent, TaskDefinitionRef
from local import DEMO_JOBS_CONFIG

LoadEvent = Callable[[str], dict[str, Any]]

ACCOUNT = "123456789012"
CAPACITY = "cloudtrail-runtask-capacity-failure"
DENIED = "cloudtrail-runtask-access-denied"
INVALID = "cloudtrail-runtask-invalid-parameter"
SUCCESS = "cloudtrail-runtask-success"
FARGATE_CAPACITY = (
    "Capacity is unavailable at this time. Please try again later or in a different availability zone."
)
DENIED_MESSAGE = (
    f"User: arn:aws:sts::{ACCOUNT}:assumed-role/data-sync-scheduler/826eeb14adaf5ac4484d1125fac3f4db "
    "is not authorized to perform: iam:PassRole on resource: "
    f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole "
    "because no identity-based policy allows the iam:PassRole action"
)
SUBNET_MESSAGE = (
    "Error retrieving subnet information for [subnet-0e7a9c1b3d5f68240]: The subnet ID "
    "'subnet-0e7a9c1b3d5f68240' does not exist (ErrorCode: InvalidSubnetID.NotFound)"
)


@pytest.fixture
def attempt_of(load_event: LoadEvent) -> Callable[[str], LaunchAttempt]:
    def parse(name: str) -> LaunchAttempt:
        return parse_launch(load_event(name))

    return parse


@pytest.fixture(scope="module")
def demo_jobs() -> JobsConfig:
    return load_config(DEMO_JOBS_CONFIG)


def detail_of(raw: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = raw["detail"]
    return detail


def request_of(raw: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = detail_of(raw)["requestParameters"]
    return request


def with_failures(
    raw: dict[str, Any], *failures: dict[str, str], tasks: int = 0, count: int = 1
) -> LaunchAttempt:
    """The capacity sample, answered with these failures[] entries and this many started tasks."""
    task_arns = [{"taskArn": f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/batch/{n:032x}"} for n in range(tasks)]
    request_of(raw)["count"] = count
    detail_of(raw)["responseElements"] = {"tasks": task_arns, "failures": list(failures)}
    return parse_launch(raw)


def with_error(raw: dict[str, Any], code: str, message: str) -> LaunchAttempt:
    """The capacity sample, refused by ECS with this error instead."""
    detail = detail_of(raw)
    detail.update({"errorCode": code, "errorMessage": message, "responseElements": None})
    return parse_launch(raw)


def started_by(raw: dict[str, Any], value: str | None, invoked_by: str | None = None) -> LaunchAttempt:
    """The capacity sample with another startedBy (None: left out) and, optionally, another invokedBy."""
    request = request_of(raw)
    request.pop("startedBy")
    if value is not None:
        request["startedBy"] = value
    identity = detail_of(raw)["userIdentity"]
    identity.pop("invokedBy")
    if invoked_by is not None:
        identity["invokedBy"] = invoked_by
    detail_of(raw)["sourceIPAddress"] = "203.0.113.24"
    return parse_launch(raw)


# --------------------------------------------------------------------------- recognising the event


@pytest.mark.parametrize("sample", [CAPACITY, DENIED, INVALID, SUCCESS])
def test_every_cloudtrail_runtask_sample_is_a_runtask_call(load_event: LoadEvent, sample: str) -> None:
    assert is_runtask_call(load_event(sample))


def test_a_task_state_change_is_not_a_runtask_call(load_event: LoadEvent) -> None:
    assert not is_runtask_call(load_event("stopped-success"))


def test_another_ecs_api_call_via_cloudtrail_is_not_a_runtask_call(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["eventName"] = "StopTask"

    assert not is_runtask_call(raw)


def test_a_runtask_call_of_another_source_or_without_a_detail_object_is_not_one(
    load_event: LoadEvent,
) -> None:
    other_source = load_event(CAPACITY) | {"source": "aws.cloudtrail"}
    no_detail = load_event(CAPACITY) | {"detail": "RunTask"}

    assert not is_runtask_call(other_source)
    assert not is_runtask_call(no_detail)
    assert not is_runtask_call(["not", "an", "event"])


# --------------------------------------------------------------------------- parsing the samples


def test_the_capacity_failure_sample_reads_as_the_nightly_rules_call(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    attempt = attempt_of(CAPACITY)

    assert attempt.request is not None  # kept, as recorded, for a retry
    assert attempt.request["cluster"] == f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/batch"
    assert msgspec.structs.replace(attempt, request=None) == LaunchAttempt(
        event_id="3610cc4c-e9b2-407a-b9a6-939b9f41c157",
        event_time=datetime(2025, 3, 5, 2, 0, 7, tzinfo=UTC),
        region="eu-west-1",
        account=ACCOUNT,
        cluster="batch",
        task_definition=TaskDefinitionRef(
            arn=f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/nightly-report:7",
            family="nightly-report",
            revision=7,
        ),
        family="nightly-report",
        started_by="events-rule/nightly-report-0200",
        group="family:nightly-report",
        launch_type="FARGATE",
        capacity_providers=(),
        count=1,
        invoked_by="events.amazonaws.com",
        caller_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/ecsEventsRole/23c13d00100c3b0096dc3b54c48131af",
        error_code=None,
        error_message=None,
        failures=(PlacementFailure(arn=None, reason=FARGATE_CAPACITY, detail=None),),
        task_arns=(),
    )


def test_the_access_denied_sample_reads_as_the_schedules_refused_call(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    attempt = attempt_of(DENIED)

    assert (attempt.event_id, attempt.family, attempt.cluster, attempt.started_by, attempt.invoked_by) == (
        "c8b81b76-3f06-4602-985b-5d648ce8e5ba",
        "data-sync",
        "batch",
        "chronos-schedule/data-sync-hourly",
        "scheduler.amazonaws.com",
    )
    assert (attempt.error_code, attempt.error_message) == ("AccessDeniedException", DENIED_MESSAGE)
    assert attempt.failures == ()
    assert attempt.task_arns == ()


def test_the_invalid_parameter_sample_reads_as_the_rules_call_with_a_deleted_subnet(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    attempt = attempt_of(INVALID)

    assert (attempt.event_id, attempt.family, attempt.started_by) == (
        "998c8546-92b6-4086-b31b-f2e1ae01debf",
        "payments-recon",
        "events-rule/payments-recon-daily",
    )
    assert (attempt.error_code, attempt.error_message) == ("InvalidParameterException", SUBNET_MESSAGE)


def test_the_success_sample_reads_as_one_started_task(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    attempt = attempt_of(SUCCESS)

    assert attempt.task_arns == (
        f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/batch/8a3a0c0ae1c30814d8282a0e751ad296",
    )
    assert attempt.failures == ()
    assert attempt.error_code is None


# --------------------------------------------------------------------------- what the request left out


def test_a_request_without_group_gets_ecs_default_group_of_its_family(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    assert "group" not in request_of(raw)

    assert parse_launch(raw).group == "family:nightly-report"


def test_a_request_with_a_group_keeps_it(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["group"] = "nightly"

    assert parse_launch(raw).group == "nightly"


def test_a_request_without_cluster_runs_on_the_default_cluster(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    del request_of(raw)["cluster"]

    assert parse_launch(raw).cluster == "default"


def test_a_cluster_given_by_name_is_that_name(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["cluster"] = "batch"

    assert parse_launch(raw).cluster == "batch"


def test_a_request_without_count_asks_for_one_task(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    del request_of(raw)["count"]

    assert parse_launch(raw).count == 1


def test_a_task_definition_given_as_a_bare_family_is_kept_as_that_family(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["taskDefinition"] = "nightly-report"

    attempt = parse_launch(raw)

    assert (attempt.task_definition, attempt.family) == ("nightly-report", "nightly-report")


def test_a_task_definition_arn_without_revision_is_kept_as_its_family(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["taskDefinition"] = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/nightly-report"

    assert parse_launch(raw).task_definition == "nightly-report"


def test_a_task_definition_given_as_family_and_revision_gets_the_arn_of_the_calls_region_and_account(
    load_event: LoadEvent,
) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["taskDefinition"] = "nightly-report:6"

    assert parse_launch(raw).task_definition == TaskDefinitionRef(
        arn=f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/nightly-report:6",
        family="nightly-report",
        revision=6,
    )


def test_capacity_providers_of_the_strategy_are_read_when_the_request_gives_one(
    load_event: LoadEvent,
) -> None:
    raw = load_event(CAPACITY)
    request = request_of(raw)
    del request["launchType"]
    request["capacityProviderStrategy"] = [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]

    attempt = parse_launch(raw)

    assert (attempt.launch_type, attempt.capacity_providers) == (None, ("FARGATE_SPOT", "FARGATE"))


def test_without_invoked_by_the_service_named_in_source_ip_address_made_the_call(
    load_event: LoadEvent,
) -> None:
    raw = load_event(DENIED)
    del detail_of(raw)["userIdentity"]["invokedBy"]

    assert parse_launch(raw).invoked_by == "scheduler.amazonaws.com"


def test_a_call_from_an_ip_address_was_invoked_by_no_service(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)

    assert started_by(raw, None).invoked_by is None


def test_an_unrecorded_request_leaves_its_fields_unknown_and_takes_the_family_from_the_error(
    load_event: LoadEvent,
) -> None:
    raw = load_event(DENIED)
    detail = detail_of(raw)
    detail["requestParameters"] = None
    detail["errorCode"] = "AccessDenied"
    detail["errorMessage"] = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/data-sync-scheduler/826eeb14adaf5ac4484d1125fac3f4db "
        "is not authorized to perform: ecs:RunTask on resource: "
        f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/data-sync:5 "
        "because no identity-based policy allows the ecs:RunTask action"
    )

    attempt = parse_launch(raw)

    assert not attempt.request_recorded
    assert (attempt.family, attempt.cluster, attempt.started_by, attempt.group) == (
        "data-sync",
        None,
        None,
        None,
    )
    assert attempt.task_definition == TaskDefinitionRef(
        arn=f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/data-sync:5", family="data-sync", revision=5
    )


def test_an_unrecorded_request_whose_error_names_no_task_definition_has_no_family(
    load_event: LoadEvent,
) -> None:
    raw = load_event(DENIED)
    detail_of(raw)["requestParameters"] = None

    attempt = parse_launch(raw)

    assert (attempt.task_definition, attempt.family) == (None, None)


# --------------------------------------------------------------------------- failed or not


@pytest.mark.parametrize("sample", [CAPACITY, DENIED, INVALID])
def test_every_failure_sample_is_a_failed_launch(
    attempt_of: Callable[[str], LaunchAttempt], sample: str
) -> None:
    assert attempt_of(sample).failed


def test_a_call_that_started_its_task_did_not_fail_and_is_not_retried(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    attempt = attempt_of(SUCCESS)

    assert not attempt.failed
    assert failure_kind(attempt) is None
    assert not is_retryable_launch(attempt)
    assert launch_cause(attempt) == "not failed: 1 of 1 task started"


def test_a_call_that_started_one_of_two_tasks_failed_and_says_how_many_started(load_event: LoadEvent) -> None:
    instance = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:container-instance/batch/0f3c9a7e5b1d4c2a8e6f0b3d5a7c9e1f"
    attempt = with_failures(
        load_event(CAPACITY), {"arn": instance, "reason": "RESOURCE:MEMORY"}, tasks=1, count=2
    )

    assert attempt.failed
    assert attempt.started == 1
    assert launch_cause(attempt) == (
        "no capacity: RESOURCE:MEMORY — no container instance has enough memory free (1 of 2 tasks started)"
    )


# --------------------------------------------------------------------------- causes


def test_the_fargate_capacity_cause_names_fargate_and_quotes_aws(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    assert launch_cause(attempt_of(CAPACITY)) == f"no capacity: Fargate — {FARGATE_CAPACITY}"


def test_a_resource_reason_says_which_resource_ran_out(load_event: LoadEvent) -> None:
    attempt = with_failures(load_event(CAPACITY), {"reason": "RESOURCE:MEMORY"})

    assert (
        launch_cause(attempt) == "no capacity: RESOURCE:MEMORY — no container instance has enough memory free"
    )


def test_a_failure_detail_is_kept_after_the_meaning(load_event: LoadEvent) -> None:
    attempt = with_failures(
        load_event(CAPACITY), {"reason": "RESOURCE:CPU", "detail": "needs 2048 CPU units"}
    )

    assert launch_cause(attempt) == (
        "no capacity: RESOURCE:CPU — no container instance has enough CPU free (needs 2048 CPU units)"
    )


def test_other_distinct_reasons_are_named_after_the_first(load_event: LoadEvent) -> None:
    attempt = with_failures(
        load_event(CAPACITY),
        {"reason": "RESOURCE:MEMORY"},
        {"reason": "RESOURCE:MEMORY"},
        {"reason": "RESOURCE:PORTS"},
        count=3,
    )

    assert launch_cause(attempt) == (
        "no capacity: RESOURCE:MEMORY — no container instance has enough memory free; also RESOURCE:PORTS"
    )


def test_an_unlisted_resource_reason_is_still_no_capacity(load_event: LoadEvent) -> None:
    attempt = with_failures(load_event(CAPACITY), {"reason": "RESOURCE:EPHEMERAL_STORAGE"})

    assert failure_kind(attempt) is LaunchFailureKind.CAPACITY


def test_a_disconnected_agent_cannot_place_the_task(load_event: LoadEvent) -> None:
    attempt = with_failures(load_event(CAPACITY), {"reason": "AGENT"})

    assert (
        launch_cause(attempt)
        == "cannot place the task: AGENT — the container instance's ECS agent is disconnected"
    )


def test_an_unknown_failure_reason_is_quoted_as_a_failed_launch(load_event: LoadEvent) -> None:
    attempt = with_failures(load_event(CAPACITY), {"reason": "SOMETHING_NEW"})

    assert launch_cause(attempt) == "launch failed: SOMETHING_NEW"


def test_the_access_denied_cause_says_not_allowed_with_awss_code_and_message(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    assert launch_cause(attempt_of(DENIED)) == f"not allowed: AccessDeniedException — {DENIED_MESSAGE}"


def test_the_invalid_parameter_cause_says_invalid_request_with_awss_message(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    assert (
        launch_cause(attempt_of(INVALID)) == f"invalid request: InvalidParameterException — {SUBNET_MESSAGE}"
    )


def test_an_invalid_parameter_that_is_a_throttled_subnet_lookup_is_throttling(load_event: LoadEvent) -> None:
    attempt = with_error(
        load_event(CAPACITY),
        "InvalidParameterException",
        "Error retrieving subnet information for [subnet-0a1f3c5e7b9d24680]: "
        "Rate exceeded (ErrorCode: Throttling)",
    )

    assert failure_kind(attempt) is LaunchFailureKind.THROTTLED
    assert launch_cause(attempt).startswith("throttled: InvalidParameterException — Error retrieving subnet")


def test_an_unknown_error_code_is_quoted_as_a_failed_launch(load_event: LoadEvent) -> None:
    attempt = with_error(load_event(CAPACITY), "SomethingNewException", "Something new\nhappened")

    assert launch_cause(attempt) == "launch failed: SomethingNewException — Something new happened"


def test_a_very_long_message_is_cut_to_one_bounded_line(load_event: LoadEvent) -> None:
    attempt = with_error(load_event(CAPACITY), "ServerException", "x" * 1000)

    cause = launch_cause(attempt)

    assert len(cause) <= 400
    assert cause.startswith("AWS error: ServerException — xxx")
    assert " … " in cause  # cut in the middle, so the end of AWS's message stays
    assert cause.endswith("x")


# --------------------------------------------------------------------------- retrying


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ThrottlingException", "Rate exceeded"),
        ("ServerException", "Service Unavailable. Please try again later."),
        ("ConflictException", "The request could not be processed because of conflict in the current state"),
        ("SomethingNewException", "never seen before"),
    ],
)
def test_throttling_aws_errors_and_unknown_errors_are_retried(
    load_event: LoadEvent, code: str, message: str
) -> None:
    assert is_retryable_launch(with_error(load_event(CAPACITY), code, message))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDenied", "User: x is not authorized to perform: ecs:RunTask"),
        ("BlockedException", "Your account is blocked"),
        ("ClusterNotFoundException", "Cluster not found."),
        ("ClientException", "TaskDefinition is inactive"),
        ("PlatformUnknownException", "The specified platform version does not exist."),
    ],
)
def test_errors_the_same_request_meets_again_are_not_retried(
    load_event: LoadEvent, code: str, message: str
) -> None:
    assert not is_retryable_launch(with_error(load_event(CAPACITY), code, message))


def test_no_capacity_is_retried(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    assert is_retryable_launch(attempt_of(CAPACITY))


@pytest.mark.parametrize("reason", ["RESOURCE:MEMORY", "AGENT", "LOCATION", "SOMETHING_NEW"])
def test_placement_failures_are_retried_because_the_fleet_changes(load_event: LoadEvent, reason: str) -> None:
    assert is_retryable_launch(with_failures(load_event(CAPACITY), {"reason": reason}))


def test_access_denied_is_not_retried(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    assert not is_retryable_launch(attempt_of(DENIED))


def test_an_invalid_parameter_is_not_retried(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    assert not is_retryable_launch(attempt_of(INVALID))


# --------------------------------------------------------------------------- who launched it


def test_a_rules_call_is_named_after_its_rule(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    attempt = attempt_of(CAPACITY)

    assert launcher(attempt) == "EventBridge rule nightly-report-0200"
    assert rule_name(attempt) == "nightly-report-0200"


def test_a_schedules_call_is_named_after_its_schedule(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    attempt = attempt_of(DENIED)

    assert launcher(attempt) == "EventBridge Scheduler schedule data-sync-hourly"
    assert schedule_name(attempt) == "data-sync-hourly"


def test_a_schedules_call_without_started_by_is_named_after_the_scheduler(load_event: LoadEvent) -> None:
    assert (
        launcher(started_by(load_event(DENIED), None, "scheduler.amazonaws.com")) == "EventBridge Scheduler"
    )


def test_a_rules_call_without_started_by_is_an_unnamed_rule(load_event: LoadEvent) -> None:
    attempt = started_by(load_event(CAPACITY), None, "events.amazonaws.com")

    assert launcher(attempt) == "an EventBridge rule"
    assert launcher_url(attempt) is None


def test_ecswatch_retries_are_named_after_the_retry_launcher(load_event: LoadEvent) -> None:
    assert launcher(started_by(load_event(CAPACITY), "ecswatch-retry/2")) == "ecswatch retry launcher"


def test_chained_jobs_are_named_after_the_retry_launcher(load_event: LoadEvent) -> None:
    attempt = started_by(load_event(CAPACITY), "ecswatch-chain/invoice-export")

    assert launcher(attempt) == "ecswatch retry launcher (dependency chain)"


def test_anyone_else_is_named_by_the_callers_arn(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/alice"

    assert launcher(started_by(raw, "manual-backfill")) == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_a_rule_name_filling_all_36_characters_of_started_by_may_be_cut_so_gets_no_link(
    load_event: LoadEvent,
) -> None:
    value = "events-rule/nightly-report-backfills"
    assert len(value) == 36
    attempt = started_by(load_event(CAPACITY), value, "events.amazonaws.com")

    assert launcher(attempt) == "EventBridge rule nightly-report-backfills…"
    assert rule_name(attempt) is None
    assert launcher_url(attempt) is None


# --------------------------------------------------------------------------- console links


def test_the_cloudtrail_link_opens_the_record_in_event_history() -> None:
    assert cloudtrail_event_url("eu-west-1", "3610cc4c-e9b2-407a-b9a6-939b9f41c157") == (
        "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1"
        "#/events/3610cc4c-e9b2-407a-b9a6-939b9f41c157"
    )


def test_the_rule_link_opens_the_rule_on_the_default_bus() -> None:
    assert rule_url("eu-west-1", "nightly-report-0200") == (
        "https://eu-west-1.console.aws.amazon.com/events/home?region=eu-west-1"
        "#/eventbus/default/rules/nightly-report-0200"
    )


def test_the_schedule_link_opens_the_schedule_in_its_group() -> None:
    assert schedule_url("eu-west-1", "default", "data-sync-hourly") == (
        "https://eu-west-1.console.aws.amazon.com/scheduler/home?region=eu-west-1#schedules/default/data-sync-hourly"
    )


def test_a_rules_call_links_to_its_rule(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    assert launcher_url(attempt_of(CAPACITY)) == rule_url("eu-west-1", "nightly-report-0200")


def test_a_schedules_call_gets_no_link_because_its_group_is_unknown(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    assert launcher_url(attempt_of(DENIED)) is None


# --------------------------------------------------------------------------- malformed


def test_a_record_without_event_id_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    del detail_of(raw)["eventID"]

    with pytest.raises(MalformedEvent, match=r"^detail\.eventID is missing$"):
        parse_launch(raw)


def test_another_api_call_is_not_a_launch(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["eventName"] = "StopTask"

    with pytest.raises(
        MalformedEvent,
        match=r"^not an ECS RunTask call via CloudTrail: aws\.ecs/AWS API Call via "
        r"CloudTrail StopTask$",
    ):
        parse_launch(raw)


def test_a_task_state_change_is_not_a_launch(load_event: LoadEvent) -> None:
    with pytest.raises(
        MalformedEvent, match=r"^not an ECS RunTask call via CloudTrail: aws\.ecs/ECS Task State Change "
    ):
        parse_launch(load_event("stopped-success"))


def test_a_runtask_record_of_another_service_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["eventSource"] = "batch.amazonaws.com"

    with pytest.raises(
        MalformedEvent, match=r"^detail\.eventSource is 'batch\.amazonaws\.com', not 'ecs\.amazonaws\.com'$"
    ):
        parse_launch(raw)


def test_a_request_without_task_definition_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    del request_of(raw)["taskDefinition"]

    with pytest.raises(MalformedEvent, match=r"^detail\.requestParameters\.taskDefinition is missing$"):
        parse_launch(raw)


@pytest.mark.parametrize("count", ["2", 0, True])
def test_a_count_that_is_not_a_positive_integer_is_malformed(load_event: LoadEvent, count: object) -> None:
    raw = load_event(CAPACITY)
    request_of(raw)["count"] = count

    with pytest.raises(MalformedEvent, match=r"^detail\.requestParameters\.count is not a positive integer"):
        parse_launch(raw)


def test_failures_that_are_not_a_list_are_malformed(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["responseElements"]["failures"] = {"reason": "RESOURCE:MEMORY"}

    with pytest.raises(MalformedEvent, match=r"^detail\.responseElements\.failures is not a list$"):
        parse_launch(raw)


def test_a_started_task_without_arn_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event(SUCCESS)
    del detail_of(raw)["responseElements"]["tasks"][0]["taskArn"]

    with pytest.raises(MalformedEvent, match=r"^detail\.responseElements\.tasks\[0\]\.taskArn is missing$"):
        parse_launch(raw)


def test_a_bad_event_time_is_malformed_and_named(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    detail_of(raw)["eventTime"] = "Mar 5, 2025, 2:00:07 AM"

    with pytest.raises(MalformedEvent, match=r"^detail\.eventTime: unreadable timestamp"):
        parse_launch(raw)


def test_a_non_object_event_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="event is a list, not a JSON object"):
        parse_launch([])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- which job


@pytest.mark.parametrize(
    ("sample", "job"),
    [
        (CAPACITY, "nightly-report"),
        (DENIED, "data-sync"),
        (INVALID, "payments-recon"),
        (SUCCESS, "nightly-report"),
    ],
)
def test_every_launch_sample_matches_its_job_in_the_demo_config(
    demo_jobs: JobsConfig, attempt_of: Callable[[str], LaunchAttempt], sample: str, job: str
) -> None:
    attempt = attempt_of(sample)
    matched = matching_job(demo_jobs, attempt)

    assert matched is not None
    assert matched.name == job
    assert launch_matches(matched.match, attempt)


def test_a_nightly_report_launched_by_hand_is_not_the_nightly_report_job(
    demo_jobs: JobsConfig, load_event: LoadEvent
) -> None:
    attempt = started_by(load_event(CAPACITY), "manual-backfill")

    assert matching_job(demo_jobs, attempt) is None


def test_a_launch_on_another_cluster_does_not_match_a_job_pinned_to_batch(
    demo_jobs: JobsConfig, load_event: LoadEvent
) -> None:
    raw = load_event(DENIED)
    request_of(raw)["cluster"] = "legacy"

    assert matching_job(demo_jobs, parse_launch(raw)) is None


def test_match_rules_are_globs_over_family_cluster_group_and_started_by(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    attempt = attempt_of(CAPACITY)

    assert launch_matches(
        MatchRule(family="nightly-*", cluster="b*", group="family:nightly-*", started_by="events-rule/*"),
        attempt,
    )
    assert not launch_matches(MatchRule(family="nightly-report", group="service:*"), attempt)
    assert not launch_matches(MatchRule(family="Nightly-report"), attempt)


def test_an_unrecorded_request_matches_on_family_alone(demo_jobs: JobsConfig, load_event: LoadEvent) -> None:
    raw = load_event(DENIED)
    detail_of(raw)["requestParameters"] = None
    detail_of(raw)["errorMessage"] = (
        "User: x is not authorized to perform: ecs:RunTask on resource: "
        f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/data-sync:5 because no policy allows it"
    )

    matched = matching_job(demo_jobs, parse_launch(raw))

    assert matched is not None
    assert matched.name == "data-sync"


def test_a_launch_with_no_known_family_matches_no_job(demo_jobs: JobsConfig, load_event: LoadEvent) -> None:
    raw = load_event(DENIED)
    detail_of(raw)["requestParameters"] = None

    attempt = parse_launch(raw)

    assert not launch_matches(MatchRule(family="*"), attempt)
    assert matching_job(demo_jobs, attempt) is None


def test_the_same_call_delivered_twice_has_one_dedupe_key(attempt_of: Callable[[str], LaunchAttempt]) -> None:
    assert (
        attempt_of(CAPACITY).dedupe_key
        == attempt_of(CAPACITY).dedupe_key
        == ("launch#3610cc4c-e9b2-407a-b9a6-939b9f41c157")
    )


@pytest.mark.parametrize(
    ("key", "value"), [("awsRegion", "evil.example/x#"), ("recipientAccountId", "evil.example")]
)
def test_a_cloudtrail_record_with_a_forged_region_or_account_builds_no_link(
    load_event: LoadEvent, key: str, value: str
) -> None:
    raw = load_event(CAPACITY)
    raw["detail"][key] = value

    with pytest.raises(MalformedEvent, match="is not an AWS"):
        parse_launch(raw)


def test_a_launch_attempt_shows_everything_but_the_request_it_carries(
    attempt_of: Callable[[str], LaunchAttempt],
) -> None:
    """The request holds what the caller sent (environment overrides may carry secrets): it is kept
    for a retry, never shown when the attempt is printed or logged."""
    attempt = msgspec.structs.replace(
        attempt_of(CAPACITY),
        request={"overrides": {"containerOverrides": [{"environment": "DB_PASSWORD=x"}]}},
    )

    assert "DB_PASS" not in repr(attempt)
    assert "event_id='3610cc4c-e9b2-407a-b9a6-939b9f41c157'" in repr(attempt)
