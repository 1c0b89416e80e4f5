"""A RunTask call that created no task is a failed run of its job: matched, alerted once, retried
under the job's policy when the failure may pass, and ignored when it succeeded or was ecswatch's own.

Built from the CloudTrail records in events/ (see events/SOURCES.md) and the failed-launch coordinator of
test_retries (recording fakes for the retry queue, RunTask and Slack).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecswatch.adapters.aws.ecs_runner import run_task_parameters
from ecswatch.analysis.failed_launch import FAILED_TO_LAUNCH, FailedLaunch, process_launch_event
from ecswatch.config.model import RetryAction
from ecswatch.config.settings import Settings
from ecswatch.events.task import MalformedEvent
from ecswatch.history.records import launch_record
from ecswatch.notifications.launch_alerts import launch_alert, launch_datadog_event
from ecswatch.notifications.render import human_duration
from ecswatch.run import Attempt, Skipped
from tests.retries.test_retries import JOBS, World

LoadEvent = Callable[[str], dict[str, Any]]
CAPACITY = "cloudtrail-runtask-capacity-failure"
DENIED = "cloudtrail-runtask-access-denied"
INVALID = "cloudtrail-runtask-invalid-parameter"
SUCCESS = "cloudtrail-runtask-success"


def failed(raw: dict[str, Any], settings: Settings | None = None) -> FailedLaunch:
    result = process_launch_event(raw, settings=settings or Settings(), jobs=JOBS)
    assert isinstance(result, FailedLaunch), result
    return result


def as_invoice_export(raw: dict[str, Any]) -> dict[str, Any]:
    """The capacity failure, as a launch of invoice-export (3 attempts, its own network in the config)."""
    request = raw["detail"]["requestParameters"]
    request["taskDefinition"] = request["taskDefinition"].replace("nightly-report", "invoice-export")
    request["startedBy"] = "events-rule/invoice-export-0530"
    return raw


# ------------------------------------------------------------------ reading and judging


def test_a_capacity_failure_is_a_retryable_failed_launch_of_the_rules_job(load_event: LoadEvent) -> None:
    launch = failed(load_event(CAPACITY))

    assert launch.job == "nightly-report"
    assert launch.retryable
    assert launch.launched_by == "EventBridge rule nightly-report-0200"
    assert launch.cause.startswith("no capacity: Fargate — Capacity is unavailable at this time.")
    assert launch.run_id == "launch:" + load_event(CAPACITY)["detail"]["eventID"]


@pytest.mark.parametrize("name", [DENIED, INVALID])
def test_a_refusal_the_same_request_meets_again_is_not_retryable(load_event: LoadEvent, name: str) -> None:
    assert not failed(load_event(name)).retryable


def test_a_pass_role_refusal_names_the_schedule_and_iams_message(load_event: LoadEvent) -> None:
    launch = failed(load_event(DENIED))

    assert launch.launched_by == "EventBridge Scheduler schedule data-sync-hourly"
    assert "is not authorized to perform: iam:PassRole" in launch.cause


def test_a_successful_run_task_call_is_skipped(load_event: LoadEvent) -> None:
    result = process_launch_event(load_event(SUCCESS), settings=Settings(), jobs=JOBS)

    assert isinstance(result, Skipped)
    assert result.kind == "launch-succeeded"


@pytest.mark.parametrize("started_by", ["ecswatch-retry/2", "ecswatch-chain/invoice-export"])
def test_ecswatchs_own_launch_is_left_to_the_retry_launcher(load_event: LoadEvent, started_by: str) -> None:
    raw = load_event(CAPACITY)
    raw["detail"]["requestParameters"]["startedBy"] = started_by

    result = process_launch_event(raw, settings=Settings(), jobs=JOBS)

    assert isinstance(result, Skipped)
    assert result.kind == "own-launch"


def test_a_launch_in_a_cluster_not_watched_is_skipped(load_event: LoadEvent) -> None:
    settings = Settings(watch_clusters=("arn:aws:ecs:eu-west-1:123456789012:cluster/other",))

    result = process_launch_event(load_event(CAPACITY), settings=settings, jobs=JOBS)

    assert isinstance(result, Skipped)
    assert result.kind == "cluster"


def test_a_record_that_is_not_a_run_task_call_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    raw["detail"]["eventName"] = "StopTask"

    with pytest.raises(MalformedEvent, match="not an ECS RunTask call"):
        process_launch_event(raw, settings=Settings(), jobs=JOBS)


def test_a_launch_of_no_configured_job_is_named_after_its_family(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    raw["detail"]["requestParameters"]["taskDefinition"] = "adhoc-export:3"

    assert failed(raw).job == "adhoc-export"


# ------------------------------------------------------------------ what on-call sees


def test_the_alert_says_no_task_was_created_and_links_the_cloudtrail_event_and_rule(
    load_event: LoadEvent,
) -> None:
    launch = failed(load_event(CAPACITY))

    alert = launch_alert(launch, Attempt(1, 1, launch.run_id))

    assert alert.title == "nightly-report failed to launch"
    assert alert.outcome == FAILED_TO_LAUNCH
    assert dict(alert.fields)["Launched by"] == "EventBridge rule nightly-report-0200"
    assert dict(alert.fields)["Tasks started"] == "0 of 1"
    labels = [link.label for link in alert.links]
    assert labels == ["CloudTrail event", "EventBridge rule", "Task definition"]
    assert launch.launch.event_id in alert.links[0].url
    assert alert.links[1].url.endswith("/rules/nightly-report-0200")


def test_the_datadog_event_counts_as_a_failed_run_of_the_job(load_event: LoadEvent) -> None:
    launch = failed(load_event(CAPACITY))

    event = launch_datadog_event(launch, Attempt(1, 1, launch.run_id))

    assert event.alert_type == "error"
    assert {"job:nightly-report", "outcome:failed_to_launch", "launch_failure:capacity"} <= set(event.tags)
    assert event.date_happened == int(launch.happened_at.timestamp())


# ------------------------------------------------------------------ the failed-launch coordinator


def test_a_failed_launch_is_alerted_once_however_often_it_arrives(load_event: LoadEvent) -> None:
    world = World()
    launch = failed(load_event(CAPACITY))

    world.launches.handle(launch)
    world.launches.handle(launch)

    [(channel, alert, thread)] = world.chat.posts
    assert (channel, alert.title, thread) == ("#nightly-report", "nightly-report failed to launch", None)


def test_a_job_without_retries_is_only_alerted(load_event: LoadEvent) -> None:
    world = World()

    result = world.launches.handle(failed(load_event(CAPACITY)))

    assert result.decision is not None
    assert result.decision.action is RetryAction.EXIT
    assert world.queue.requests == []


def test_a_retryable_launch_of_a_retried_job_sends_the_same_run_task_again_once(
    load_event: LoadEvent,
) -> None:
    world = World()
    launch = failed(as_invoice_export(load_event(CAPACITY)))

    world.launches.handle(launch)
    world.launches.handle(launch)

    [(request, delay)] = world.queue.requests
    assert (request.job, request.attempt, request.of) == ("invoice-export", 2, 3)
    assert request.root_task_arn == launch.run_id
    assert request.task_definition_arn.endswith(":task-definition/invoice-export:7")
    assert request.capacity_provider is None
    assert request.launch_type == "FARGATE"
    subnets = request.network_configuration["awsvpcConfiguration"]["subnets"]  # type: ignore[index]
    assert subnets == ["subnet-0c4e6a8b1d3f57920", "subnet-0a1f3c5e7b9d24680"]  # the job's, not the rule's
    assert 0 <= delay <= 120
    assert world.chat.replies() == [f"invoice-export retry 2/3 scheduled in {_wait(delay)}"]


def test_the_retry_of_a_failed_launch_threads_under_its_alert_when_it_starts(load_event: LoadEvent) -> None:
    world = World()
    world.launches.handle(failed(as_invoice_export(load_event(CAPACITY))))

    world.launch_last()

    assert world.chat.replies()[-1] == "invoice-export attempt 2/3 started"


def test_a_refusal_is_not_retried_even_for_a_retried_job(load_event: LoadEvent) -> None:
    world = World()
    raw = as_invoice_export(load_event(CAPACITY))
    raw["detail"]["errorCode"] = "InvalidParameterException"
    raw["detail"]["errorMessage"] = "No Container Instances were found in your cluster."
    raw["detail"]["responseElements"] = None

    result = world.launches.handle(failed(raw))

    assert result.decision is not None
    assert result.decision.reason == "the same request would fail again"
    assert world.queue.requests == []


def _wait(delay: int) -> str:
    return human_duration(float(delay))


def test_a_failed_launch_is_kept_in_the_history_as_a_run_of_its_job(load_event: LoadEvent) -> None:
    launch = failed(load_event(CAPACITY))

    run = launch_record(launch, Attempt(1, 1, launch.run_id))

    assert (run.job, run.run_id, run.outcome) == ("nightly-report", launch.run_id, "failed_to_launch")
    assert run.started_at == run.stopped_at == launch.happened_at
    assert run.cause == launch.cause
    assert set(run.links or {}) == {"cloudtrail", "rule", "task_definition"}


def test_the_retry_of_a_failed_launch_sends_its_placement_and_tags_again(load_event: LoadEvent) -> None:
    raw = as_invoice_export(load_event(CAPACITY))
    request = raw["detail"]["requestParameters"]
    request["placementStrategy"] = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    request["enableExecuteCommand"] = True
    request["tags"] = [{"key": "team", "value": "billing"}]
    world = World()

    world.launches.handle(failed(raw))

    [(retry, _)] = world.queue.requests
    params = run_task_parameters(retry)
    assert params["placementStrategy"] == [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    assert params["enableExecuteCommand"] is True
    assert {"key": "team", "value": "billing"} in params["tags"]
    assert any(tag["key"].startswith("ecswatch:") for tag in params["tags"])


# ------------------------------------------------------------------ secrets in CloudTrail's words (issue 13)

_TOKEN = "ghp" + "_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_a_secret_in_cloudtrails_error_message_reaches_no_alert_event_or_record(
    load_event: LoadEvent,
) -> None:
    raw = load_event(INVALID)
    raw["detail"]["errorMessage"] = (
        f"Invalid setting: repositoryCredentials https://robot:{_TOKEN}@registry.example.com password=hunter2"
    )

    launch = failed(raw)

    said = "\n".join(
        [
            launch.cause,
            repr(launch.launch),
            repr(launch_alert(launch, Attempt())),
            repr(launch_datadog_event(launch, Attempt())),
            repr(launch_record(launch, Attempt())),
        ]
    )
    assert _TOKEN not in said
    assert "hunter2" not in said
    assert "https://robot:[REDACTED]@registry.example.com password=[REDACTED]" in launch.cause


def test_a_secret_in_a_placement_failures_reason_or_detail_is_hidden(load_event: LoadEvent) -> None:
    raw = load_event(CAPACITY)
    raw["detail"]["responseElements"]["failures"] = [
        {
            "arn": "arn:aws:ecs:eu-west-1:123456789012:container-instance/x",
            "reason": "AGENT",
            "detail": "agent said: token=abc123secret",
        }
    ]

    launch = failed(raw)

    assert "abc123secret" not in launch.cause
    assert "abc123secret" not in repr(launch.launch)
    assert launch.cause.endswith("(agent said: token=[REDACTED])")


def test_a_mention_or_link_in_cloudtrails_error_message_is_plain_text_in_the_datadog_event(
    load_event: LoadEvent,
) -> None:
    raw = load_event(INVALID)
    raw["detail"]["errorMessage"] = "bad subnet @here [fix it](https://evil.example/x)"

    text = launch_datadog_event(failed(raw), Attempt()).text

    assert "@here \\[fix it\\](https://evil.example/x)" in text
    assert "[fix it](" not in text
    assert "[CloudTrail event](https://" in text
