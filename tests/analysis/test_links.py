"""Deep links for one ECS task: what an on-call person clicks, and why a log link is missing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pytest

from ecswatch.analysis.links import (
    build_links,
    console_fragment_decode,
    console_fragment_encode,
    ecs_task_url,
    insights_query_for_stream,
    locate_log,
    log_events_url,
    logs_insights_url,
    task_definition_url,
)
from ecswatch.events.task import TaskEvent, parse_task_event
from ecswatch.events.taskdef import TaskDefinition, parse_task_definition
from ecswatch.run import LogLocation

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TASK_ID = "0f9a1c2b3d4e5f60718293a4b5c6d7e8"
DOCKER_ID = "4d1b9c0e6f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"


def make_event(**detail_overrides: Any) -> TaskEvent:
    """A STOPPED Fargate batch task in cluster 'batch' whose 'app' container exited 1."""
    detail: dict[str, Any] = {
        "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{TASK_ID}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch",
        "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-report:7",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "launchType": "FARGATE",
        "capacityProviderName": "FARGATE",
        "version": 5,
        "containers": [
            {"name": "app", "lastStatus": "STOPPED", "exitCode": 1, "runtimeId": f"{TASK_ID}-1234567890"},
        ],
        "createdAt": "2026-01-02T03:00:00.000Z",
        "pullStartedAt": "2026-01-02T03:00:10.000Z",
        "startedAt": "2026-01-02T03:00:30.000Z",
        "stoppingAt": "2026-01-02T03:20:00.000Z",
        "executionStoppedAt": "2026-01-02T03:19:58.000Z",
        "stoppedAt": "2026-01-02T03:20:30.000Z",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
    }
    detail.update(detail_overrides)
    detail = {key: value for key, value in detail.items() if value is not None}
    return parse_task_event(
        {
            "version": "0",
            "id": "7f1c2a3b-0000-4000-8000-000000000001",
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": ACCOUNT,
            "time": "2026-01-02T03:20:31Z",
            "region": REGION,
            "resources": [detail["taskArn"]],
            "detail": detail,
        }
    )


def ec2_event(**detail_overrides: Any) -> TaskEvent:
    """The same task on EC2, where the container's runtimeId is the Docker container id."""
    overrides: dict[str, Any] = {
        "launchType": "EC2",
        "capacityProviderName": "batch-asg",
        "containers": [{"name": "app", "lastStatus": "STOPPED", "exitCode": 1, "runtimeId": DOCKER_ID}],
    }
    overrides.update(detail_overrides)
    return make_event(**overrides)


def make_taskdef(log_configuration: dict[str, Any] | None, container: str = "app") -> TaskDefinition:
    definition: dict[str, Any] = {"name": container, "image": "example/report:1", "essential": True}
    if log_configuration is not None:
        definition["logConfiguration"] = log_configuration
    return parse_task_definition(
        {
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly-report:7",
            "family": "nightly-report",
            "revision": 7,
            "containerDefinitions": [definition],
        }
    )


def awslogs(**options: str) -> dict[str, Any]:
    return {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/nightly-report", **options}}


def firelens(**options: str) -> dict[str, Any]:
    return {"logDriver": "awsfirelens", "options": options}


def insights_detail(url: str) -> dict[str, str | list[str]]:
    """Undo the console's Logs Insights encoding: $ -> %, URI-decode, unescape(), then JSURL."""
    fragment = url.split("#logsV2:logs-insights", 1)[1]
    outer = unquote(fragment.replace("$", "%"))
    assert outer.startswith("?queryDetail=")
    jsurl = unquote(outer.removeprefix("?queryDetail="))
    detail: dict[str, str | list[str]] = {
        key: jsurl_unescape(value) for key, value in re.findall(r"(\w+)~'([^~)]*)", jsurl)
    }
    sources = re.search(r"source~\(((?:~'[^~)]*)*)\)", jsurl)
    assert sources is not None
    detail["source"] = [jsurl_unescape(v) for v in sources.group(1).split("~'")[1:]]
    return detail


def jsurl_unescape(value: str) -> str:
    """JSURL string decoding (*xx, **xxxx, ! for $), over UTF-16 code units as the console's parser does."""
    units: list[int] = []
    i = 0
    while i < len(value):
        if value.startswith("**", i):
            units.append(int(value[i + 2 : i + 6], 16))
            i += 6
        elif value[i] == "*":
            units.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            units.append(ord("$") if value[i] == "!" else ord(value[i]))
            i += 1
    return b"".join(u.to_bytes(2, "big") for u in units).decode("utf-16-be")


# --- console encodings ---------------------------------------------------------------------------


def test_fragment_encoding_writes_slash_as_console_dollar_form() -> None:
    assert console_fragment_encode("/ecs/job") == "$252Fecs$252Fjob"


def test_fragment_encoding_escapes_dollar_so_decoding_is_unambiguous() -> None:
    assert console_fragment_encode("a$b") == "a$2524b"


@pytest.mark.parametrize(
    "value",
    [
        "/ecs/nightly-report",
        "ecs/app/0f9a1c2b",
        "$252F already-encoded $",
        "[brackets] and (parens)",
        "it's ~tilde* and !bang",
        "spaces  and\ttabs",
        "100% real",
        "ünïcødé/日本語/🚀",
        "",
    ],
)
def test_fragment_decoding_inverts_encoding(value: str) -> None:
    assert console_fragment_decode(console_fragment_encode(value)) == value


# --- exact URLs ----------------------------------------------------------------------------------


def test_task_url_is_the_new_console_configuration_tab() -> None:
    assert ecs_task_url("eu-west-1", "batch", TASK_ID) == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/batch/tasks/"
        "0f9a1c2b3d4e5f60718293a4b5c6d7e8/configuration?region=eu-west-1"
    )


def test_task_definition_url_names_family_and_revision() -> None:
    assert task_definition_url("eu-west-1", "nightly-report", 7) == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/task-definitions/nightly-report/7/containers"
        "?region=eu-west-1"
    )


def test_log_events_url_double_encodes_group_and_stream() -> None:
    assert log_events_url("us-east-1", "/ecs/job", "ecs/app/abc") == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#logsV2:log-groups/log-group/$252Fecs$252Fjob/log-events/ecs$252Fapp$252Fabc"
    )


def test_insights_url_matches_console_encoding() -> None:
    url = logs_insights_url(
        "us-east-1",
        "/ecs/job",
        "fields @message | limit 5",
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 4, 0, 0, tzinfo=UTC),
    )

    assert url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:logs-insights"
        "$3FqueryDetail$3D$257E$2528"
        "end$257E$25272026-01-02T04*3a00*3a00.000Z"
        "$257Estart$257E$25272026-01-02T03*3a04*3a05.000Z"
        "$257EtimeType$257E$2527ABSOLUTE"
        "$257Etz$257E$2527UTC"
        "$257EeditorString$257E$2527fields*20*40message*20*7c*20limit*205"
        "$257EisLiveTail$257Efalse"
        "$257Esource$257E$2528$257E$2527*2fecs*2fjob$2529"
        "$2529"
    )


def test_insights_url_writes_times_in_utc_with_milliseconds() -> None:
    paris_summer = timezone(timedelta(hours=2))
    moment = datetime(2026, 7, 2, 7, 4, 5, 120000, tzinfo=paris_summer)

    url = logs_insights_url("us-east-1", "g", "q", moment, moment)

    assert insights_detail(url)["start"] == "2026-07-02T05:04:05.120Z"


@pytest.mark.parametrize(
    "stream",
    ["ecs/app/abc", "it's $weird [stream] (1) ~*!", "ünïcødé 日本語 🚀", "back\\slash"],
)
def test_insights_url_round_trips_query_and_group(stream: str) -> None:
    query = insights_query_for_stream(stream)
    start = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)

    detail = insights_detail(logs_insights_url("eu-west-1", "/ecs/$odd group", query, start, start))

    assert detail["editorString"] == query
    assert detail["source"] == ["/ecs/$odd group"]


def test_insights_query_filters_one_stream_newest_first() -> None:
    assert insights_query_for_stream("ecs/app/abc") == (
        "fields @timestamp, @message | filter @logStream = 'ecs/app/abc' | sort @timestamp desc | limit 1000"
    )


def test_insights_query_escapes_quotes_in_stream_name() -> None:
    assert "@logStream = 'it\\'s'" in insights_query_for_stream("it's")


# --- where the log lives -------------------------------------------------------------------------


def test_fargate_awslogs_with_prefix_names_prefix_container_task() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}))

    location = locate_log(make_event(), "app", taskdef)

    assert location == LogLocation(REGION, "/ecs/nightly-report", f"ecs/app/{TASK_ID}")


def test_awslogs_region_option_beats_task_region() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs", "awslogs-region": "us-east-2"}))

    location = locate_log(make_event(), "app", taskdef)

    assert isinstance(location, LogLocation)
    assert location.region == "us-east-2"


def test_ec2_awslogs_without_prefix_uses_docker_container_id() -> None:
    location = locate_log(ec2_event(), "app", make_taskdef(awslogs()))

    assert location == LogLocation(REGION, "/ecs/nightly-report", DOCKER_ID)


def test_ec2_awslogs_without_prefix_and_without_runtime_id_gives_reason() -> None:
    event = ec2_event(containers=[{"name": "app", "lastStatus": "STOPPED"}])

    reason = locate_log(event, "app", make_taskdef(awslogs()))

    assert isinstance(reason, str)
    assert "Docker container id" in reason


def test_fargate_awslogs_without_prefix_gives_reason() -> None:
    reason = locate_log(make_event(), "app", make_taskdef(awslogs()))

    assert isinstance(reason, str)
    assert "Fargate" in reason
    assert "awslogs-stream-prefix" in reason


def test_fargate_spot_without_launch_type_counts_as_fargate() -> None:
    event = make_event(launchType=None, capacityProviderName="FARGATE_SPOT")

    reason = locate_log(event, "app", make_taskdef(awslogs()))

    assert isinstance(reason, str)
    assert "Fargate" in reason


def test_firelens_cloudwatch_prefix_appends_firelens_tag() -> None:
    taskdef = make_taskdef(
        firelens(
            Name="cloudwatch_logs", region="eu-central-1", log_group_name="/jobs", log_stream_prefix="fb-"
        )
    )

    location = locate_log(make_event(), "app", taskdef)

    assert location == LogLocation("eu-central-1", "/jobs", f"fb-app-firelens-{TASK_ID}")


def test_firelens_go_cloudwatch_plugin_with_fixed_stream_name() -> None:
    taskdef = make_taskdef(firelens(Name="cloudwatch", log_group_name="/jobs", log_stream_name="nightly"))

    location = locate_log(make_event(), "app", taskdef)

    assert location == LogLocation(REGION, "/jobs", "nightly")


def test_firelens_templated_stream_gives_reason() -> None:
    taskdef = make_taskdef(
        firelens(
            Name="cloudwatch_logs", log_group_name="/jobs", log_stream_template="$kubernetes['pod_name']"
        )
    )

    reason = locate_log(make_event(), "app", taskdef)

    assert reason == (
        "container 'app' logs via FireLens with log_stream_template, so the log location varies per record"
    )


def test_firelens_datadog_gives_reason() -> None:
    taskdef = make_taskdef(firelens(Name="datadog", Host="http-intake.logs.datadoghq.com"))

    assert locate_log(make_event(), "app", taskdef) == (
        "container 'app' logs via FireLens to datadog, not CloudWatch Logs"
    )


def test_firelens_routed_by_config_file_gives_reason() -> None:
    taskdef = make_taskdef({"logDriver": "awsfirelens"})

    reason = locate_log(make_event(), "app", taskdef)

    assert isinstance(reason, str)
    assert "config file" in reason


def test_other_log_driver_gives_reason() -> None:
    taskdef = make_taskdef({"logDriver": "splunk", "options": {"splunk-url": "https://splunk:8088"}})

    assert locate_log(make_event(), "app", taskdef) == "container 'app' logs via splunk, not CloudWatch Logs"


def test_no_log_configuration_gives_reason() -> None:
    reason = locate_log(make_event(), "app", make_taskdef(None))

    assert reason == (
        "container 'app' has no logConfiguration in nightly-report:7, so its output is not in CloudWatch Logs"
    )


def test_container_missing_from_task_definition_gives_reason() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}), container="other")

    assert locate_log(make_event(), "app", taskdef) == (
        "container 'app' is not in task definition nightly-report:7"
    )


def test_missing_task_definition_gives_reason() -> None:
    assert locate_log(make_event(), "app", None) == (
        "task definition nightly-report:7 could not be read (deleted or access denied); log location unknown"
    )


# --- all links together --------------------------------------------------------------------------


def test_links_point_at_task_definition_and_log_stream() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}))

    links = build_links(make_event(), "app", taskdef)

    assert links.task == ecs_task_url(REGION, "batch", TASK_ID)
    assert links.task_definition == task_definition_url(REGION, "nightly-report", 7)
    assert links.log_stream == log_events_url(REGION, "/ecs/nightly-report", f"ecs/app/{TASK_ID}")
    assert links.log_missing_reason is None


def test_links_without_log_keep_the_reason_and_no_log_urls() -> None:
    links = build_links(make_event(), "app", None)

    assert (links.log_stream, links.logs_insights, links.log_location) == (None, None, None)
    assert links.log_missing_reason is not None
    assert links.log_missing_reason.startswith("task definition nightly-report:7 could not be read")


def test_no_deciding_container_gives_reason() -> None:
    links = build_links(make_event(), None, make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"})))

    assert links.log_missing_reason == "no container decides this task's outcome"


def test_override_wins_over_task_definition() -> None:
    override = LogLocation("us-west-2", "/custom/group", "custom-stream")

    links = build_links(make_event(), "app", make_taskdef(None), override=override)

    assert links.log_location == override
    assert links.log_stream == log_events_url("us-west-2", "/custom/group", "custom-stream")
    assert links.logs_insights is not None
    assert links.logs_insights.startswith("https://us-west-2.console.aws.amazon.com/")


def test_old_format_task_arn_takes_cluster_from_cluster_arn() -> None:
    event = make_event(taskArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{TASK_ID}")

    links = build_links(event, None, None)

    assert links.task == ecs_task_url(REGION, "batch", TASK_ID)


def test_old_format_task_arn_without_cluster_arn_means_default_cluster() -> None:
    event = make_event(taskArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{TASK_ID}", clusterArn=None)

    links = build_links(event, None, None)

    assert links.task == ecs_task_url(REGION, "default", TASK_ID)


def test_insights_window_pads_created_to_stopped_by_five_minutes() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}))

    links = build_links(make_event(), "app", taskdef)

    assert links.logs_insights is not None
    detail = insights_detail(links.logs_insights)
    assert (detail["start"], detail["end"]) == ("2026-01-02T02:55:00.000Z", "2026-01-02T03:25:30.000Z")
    assert detail["editorString"] == insights_query_for_stream(f"ecs/app/{TASK_ID}")
    assert detail["source"] == ["/ecs/nightly-report"]


def test_insights_window_falls_back_to_event_time_when_timeline_is_empty() -> None:
    event = make_event(
        createdAt=None,
        pullStartedAt=None,
        startedAt=None,
        stoppingAt=None,
        executionStoppedAt=None,
        stoppedAt=None,
    )
    event_time = datetime(2026, 1, 2, 3, 20, 31, tzinfo=UTC)

    links = build_links(event, "app", make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"})))

    assert links.logs_insights is not None
    detail = insights_detail(links.logs_insights)
    assert detail["start"] == (event_time - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert detail["end"] == (event_time + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_firelens_option_keys_are_read_case_insensitively_like_fluent_bit() -> None:
    taskdef = make_taskdef(
        firelens(name="CloudWatch_Logs", Log_Group_Name="/jobs", Log_Stream_Name="nightly")
    )

    location = locate_log(make_event(), "app", taskdef)

    assert location == LogLocation(REGION, "/jobs", "nightly")


# --- containers that never started -----------------------------------------------------------------


def _never_started(reason: str) -> TaskEvent:
    """As ECS reports a task whose container was never created: no runtimeId, no exit code, no startedAt."""
    return make_event(
        containers=[{"name": "app", "lastStatus": "STOPPED", "reason": reason}],
        startedAt=None,
        stopCode="TaskFailedToStart",
        stoppedReason="Task failed to start",
    )


@pytest.mark.parametrize(
    "reason",
    [
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed",
        "ResourceInitializationError: failed to configure ENI: no IP addresses available in subnet",
    ],
)
def test_a_container_that_never_started_gets_no_log_links_and_says_why(reason: str) -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}))

    links = build_links(_never_started(reason), "app", taskdef)

    assert (links.log_stream, links.logs_insights, links.log_location) == (None, None, None)
    assert links.log_missing_reason == "container 'app' never started, so it wrote no log"


def test_a_configured_log_location_does_not_invent_a_log_for_a_container_that_never_started() -> None:
    override = LogLocation(region=REGION, group="/jobs/report", stream="app/x")

    links = build_links(_never_started("CannotPullContainerError: denied"), "app", None, override=override)

    assert links.log_stream is None
    assert links.log_missing_reason == "container 'app' never started, so it wrote no log"


def test_a_container_that_ran_keeps_its_log_links_when_the_task_did_not_record_startedAt() -> None:
    taskdef = make_taskdef(awslogs(**{"awslogs-stream-prefix": "ecs"}))

    links = build_links(make_event(startedAt=None), "app", taskdef)

    assert links.log_stream is not None
