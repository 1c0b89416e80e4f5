"""Specification of ``ecswatch.analysis.pipeline.process_task_event``:
One raw event in, a run report or a skip out.

The collaborators are tiny fakes of the ports (no moto): ``tests.fakes.FixedTaskDefinitions`` answering with
a seeded definition and remembering each ask, and a log reader that answers from a dict of streams and
records every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import pytest

from ecswatch.analysis.pipeline import process_task_event, readable_line
from ecswatch.config.settings import Settings
from ecswatch.events.task import MalformedEvent
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.run import LogTail, Outcome, PhaseDurations, RunPhase, RunReport, Skipped
from tests.fakes import FixedTaskDefinitions, TailCall

LoadEvent = Callable[[str], dict[str, Any]]
SeededTaskDefinition = Callable[[dict[str, Any]], TaskDefinition | None]
StreamKey = tuple[str, str, str]

CONSOLE = "https://eu-west-1.console.aws.amazon.com"
SUCCESS_TASK_ID = "c50ead5370796d06e8a8c6c917151c46"
EXPORT_TASK_ID = "f77fae8dc62fd89bd256b1c897d44a25"
EXPORT_STREAM: StreamKey = ("eu-west-1", "/ecs/invoice-export", f"ecs/export/{EXPORT_TASK_ID}")


class FakeLogReader:
    """Answers like ``CloudWatchLogReader``: a stream's newest ``lines``, or a note when it is missing."""

    def __init__(self, streams: Mapping[StreamKey, list[str]] | None = None) -> None:
        self._streams = dict(streams or {})
        self.calls: list[TailCall] = []

    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        self.calls.append((region, group, stream, lines))
        found = self._streams.get((region, group, stream))
        if found is None:
            return LogTail(note=f"log stream {group} / {stream} not found (expired, or never written)")
        return LogTail(lines=tuple(found[-lines:]))


def process(
    raw: Mapping[str, Any],
    task_definitions: FixedTaskDefinitions,
    logs: FakeLogReader | None = None,
    settings: Settings | None = None,
) -> RunReport | Skipped:
    return process_task_event(
        raw, settings=settings or Settings(), task_definitions=task_definitions, logs=logs or FakeLogReader()
    )


def report_of(
    raw: Mapping[str, Any],
    task_definitions: FixedTaskDefinitions,
    logs: FakeLogReader | None = None,
    settings: Settings | None = None,
) -> RunReport:
    result = process(raw, task_definitions, logs, settings)
    assert isinstance(result, RunReport), result
    return result


# --- what is skipped, and that skipping costs no AWS call --------------------------------------------


def test_an_ecs_deployment_event_is_skipped_as_another_kind_of_event(load_event: LoadEvent) -> None:
    task_definitions = FixedTaskDefinitions()

    result = process(load_event("bad-deployment-event"), task_definitions)

    assert result == Skipped(
        "not an ECS Task State Change (aws.ecs/ECS Deployment State Change)", kind="other-event"
    )
    assert task_definitions.asked == []


def test_an_event_from_another_service_is_skipped_as_another_kind_of_event() -> None:
    raw = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}

    result = process(raw, FixedTaskDefinitions())

    assert isinstance(result, Skipped)
    assert result.kind == "other-event"


@pytest.mark.parametrize(
    "watched",
    [
        frozenset({"etl", "legacy"}),
        frozenset({"arn:aws:ecs:eu-west-1:123456789012:cluster/etl"}),
    ],
    ids=["by-name", "by-arn"],
)
def test_a_task_in_an_unwatched_cluster_is_skipped_before_any_lookup(
    watched: frozenset[str], load_event: LoadEvent
) -> None:
    task_definitions = FixedTaskDefinitions()

    result = process(
        load_event("stopped-success"), task_definitions, settings=Settings(watch_clusters=watched)
    )

    assert result == Skipped("cluster 'batch' is not watched", kind="cluster")
    assert task_definitions.asked == []


@pytest.mark.parametrize(
    "watched",
    [frozenset({"batch"}), frozenset({"arn:aws:ecs:eu-west-1:123456789012:cluster/batch"})],
    ids=["by-name", "by-arn"],
)
def test_a_task_in_a_watched_cluster_is_reported(
    watched: frozenset[str], load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-success")

    result = process(
        raw, FixedTaskDefinitions(seeded_task_definition(raw)), settings=Settings(watch_clusters=watched)
    )

    assert isinstance(result, RunReport)


def test_a_service_task_is_skipped_by_default(load_event: LoadEvent) -> None:
    result = process(load_event("stopped-service-task"), FixedTaskDefinitions())

    assert result == Skipped("service task (service:web); INCLUDE_SERVICE_TASKS is off", kind="service")


def test_a_service_task_is_reported_when_service_tasks_are_included(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-service-task")

    report = report_of(
        raw, FixedTaskDefinitions(seeded_task_definition(raw)), settings=Settings(include_service_tasks=True)
    )

    assert report.outcome is Outcome.STOPPED_BY_SCHEDULER


def test_the_deprovisioning_event_before_the_stop_is_skipped_as_intermediate(load_event: LoadEvent) -> None:
    task_definitions = FixedTaskDefinitions()

    result = process(load_event("stopped-nonzero-exit-deprovisioning"), task_definitions)

    assert result == Skipped("intermediate state DEPROVISIONING (desired STOPPED)", kind="intermediate")
    assert task_definitions.asked == []


# --- malformed input ----------------------------------------------------------------------------------


def test_a_task_event_without_a_task_arn_is_malformed_and_names_the_field(load_event: LoadEvent) -> None:
    with pytest.raises(MalformedEvent, match=r"detail\.taskArn is missing"):
        process(load_event("bad-missing-task-arn"), FixedTaskDefinitions())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"hello": "world"}, "not an ECS Task State Change event"),
        (["a", "list"], "event is a list, not a JSON object"),
    ],
    ids=["no-source", "not-an-object"],
)
def test_a_body_that_is_no_eventbridge_event_at_all_is_malformed(raw: Any, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        process(raw, FixedTaskDefinitions())


# --- started ------------------------------------------------------------------------------------------


def test_a_running_task_gives_a_started_report_with_its_start_latency_and_no_tail(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("running-fargate")
    logs = FakeLogReader()

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs)

    assert (report.phase, report.outcome, report.deciding_container, report.log_tail) == (
        RunPhase.STARTED,
        None,
        "report",
        None,
    )
    assert report.durations == PhaseDurations(
        provisioning=18.284, image_pull=12.548, start_latency=33.089, run_time=None, stopping=None, total=None
    )
    assert logs.calls == []


def test_started_and_stopped_reports_of_one_task_have_different_keys(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    running, stopped = load_event("running-fargate"), load_event("stopped-success")
    task_definitions = FixedTaskDefinitions(seeded_task_definition(stopped))

    keys = {report_of(running, task_definitions).key, report_of(stopped, task_definitions).key}

    task_arn = f"arn:aws:ecs:eu-west-1:123456789012:task/batch/{SUCCESS_TASK_ID}"
    assert keys == {f"{task_arn}#started", f"{task_arn}#stopped"}


# --- stopped: the report and its log tail -------------------------------------------------------------


def test_a_successful_run_is_reported_without_fetching_its_log(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-success")
    logs = FakeLogReader()

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs)

    assert (report.phase, report.outcome, report.job, report.log_tail) == (
        RunPhase.STOPPED,
        Outcome.SUCCEEDED,
        "nightly-report",
        None,
    )
    assert logs.calls == []


def test_a_failed_run_fetches_the_configured_number_of_lines_from_the_deciding_containers_stream(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-nonzero-exit")
    logs = FakeLogReader({EXPORT_STREAM: ["uploading batch 62", "upstream 502", "exiting with status 2"]})

    report = report_of(
        raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs, Settings(log_tail_lines=2)
    )

    assert logs.calls == [(*EXPORT_STREAM, 2)]
    assert report.log_tail == LogTail(lines=("upstream 502", "exiting with status 2"))


def test_a_failed_runs_log_tail_is_redacted(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-nonzero-exit")
    logs = FakeLogReader(
        {
            EXPORT_STREAM: [
                "connecting to postgresql://export:s3cr3t-Pa55@billing-db.internal:5432/billing",
                "using key AKIAIOSFODNN7EXAMPLE",
                "exiting with status 2",
            ]
        }
    )

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs)

    assert report.log_tail is not None
    assert report.log_tail.lines == (
        "connecting to postgresql://export:[REDACTED]@billing-db.internal:5432/billing",
        "using key [REDACTED]",
        "exiting with status 2",
    )


def test_firelens_json_records_in_the_tail_are_shown_as_their_log_text(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-firelens")
    stream = ("eu-west-1", "/ecs/audit-export", "audit-audit-firelens-bced6587aa98f130bfc5b2fc7d50f358")
    logs = FakeLogReader(
        {
            stream: [
                '{"container_name":"audit","ecs_cluster":"batch","log":"validating row counts",'
                '"source":"stdout"}',
                '{"container_name":"audit","log":"refusing to publish an incomplete week; exit 3\\n",'
                '"source":"stderr"}',
            ]
        }
    )

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs)

    assert logs.calls == [(*stream, 30)]
    assert report.log_tail == LogTail(
        lines=("validating row counts", "refusing to publish an incomplete week; exit 3")
    )


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('{"log":"done in 3.2s","source":"stdout"}', "done in 3.2s"),
        ("plain text stays as it is", "plain text stays as it is"),
        ('{"log": not json after all', '{"log": not json after all'),
        ('{"log": 42}', '{"log": 42}'),
        ('{"message":"no log key"}', '{"message":"no log key"}'),
    ],
    ids=["firelens-record", "plain", "broken-json", "log-not-text", "no-log-key"],
)
def test_only_a_firelens_record_with_log_text_is_unwrapped(line: str, shown: str) -> None:
    assert readable_line(line) == shown


def test_a_missing_log_stream_becomes_the_readers_note(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-spot-interrupted")

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), FakeLogReader())

    assert report.log_tail == LogTail(
        note="log stream /ecs/ml-features / ecs/features/dbeef85c0c31cfad8d8b866aeaf6dd39 not found "
        "(expired, or never written)"
    )


@pytest.mark.parametrize(
    ("sample", "container"), [("stopped-image-pull-failed", "sync"), ("stopped-secrets-failed", "recon")]
)
def test_a_container_that_never_started_has_no_log_to_read_and_the_report_says_so(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition, sample: str, container: str
) -> None:
    raw = load_event(sample)

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)), FakeLogReader())

    assert report.log_tail == LogTail(note=f"container '{container}' never started, so it wrote no log")
    assert (report.links.log_stream, report.links.logs_insights) == (None, None)


def test_when_the_log_location_is_unknown_the_tail_says_why_without_reading_logs(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-nonzero-exit")
    seeded = seeded_task_definition(raw)
    assert seeded is not None
    no_log_config = msgspec.structs.replace(
        seeded,
        containers=tuple(
            msgspec.structs.replace(c, log=None) if c.name == "export" else c for c in seeded.containers
        ),
    )
    logs = FakeLogReader()

    report = report_of(raw, FixedTaskDefinitions(no_log_config), logs)

    reason = (
        "container 'export' has no logConfiguration in invoice-export:12, "
        "so its output is not in CloudWatch Logs"
    )
    assert (report.links.log_stream, report.links.log_missing_reason) == (None, reason)
    assert report.log_tail == LogTail(note=reason)
    assert logs.calls == []


def test_a_deleted_task_definition_still_gives_a_report_from_what_the_event_says(
    load_event: LoadEvent,
) -> None:
    raw = load_event("stopped-taskdef-deleted")
    task_definitions = FixedTaskDefinitions()  # DescribeTaskDefinition found nothing
    logs = FakeLogReader()

    report = report_of(raw, task_definitions, logs)

    reason = "task definition legacy-etl:2 could not be read (deleted or access denied); log location unknown"
    assert task_definitions.asked == ["arn:aws:ecs:eu-west-1:123456789012:task-definition/legacy-etl:2"]
    assert (report.outcome, report.deciding_container, report.exit_code, report.task_definition) == (
        Outcome.FAILED,
        "etl",
        1,
        None,
    )
    assert report.links.log_missing_reason == reason
    assert report.log_tail == LogTail(note=reason)
    assert logs.calls == []


def test_a_zero_line_tail_setting_turns_the_tail_off(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-nonzero-exit")
    logs = FakeLogReader({EXPORT_STREAM: ["exiting with status 2"]})

    report = report_of(
        raw, FixedTaskDefinitions(seeded_task_definition(raw)), logs, Settings(log_tail_lines=0)
    )

    assert (report.outcome, report.log_tail) == (Outcome.FAILED, None)
    assert logs.calls == []


# --- links --------------------------------------------------------------------------------------------


def test_the_successful_runs_links_are_exact_console_urls(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-success")

    links = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw))).links

    assert links.task == (
        f"{CONSOLE}/ecs/v2/clusters/batch/tasks/{SUCCESS_TASK_ID}/configuration?region=eu-west-1"
    )
    assert links.task_definition == (
        f"{CONSOLE}/ecs/v2/task-definitions/nightly-report/7/containers?region=eu-west-1"
    )
    # Group and stream are URI-encoded twice with % written as $: "/" -> %2F -> %252F -> $252F.
    assert links.log_stream == (
        f"{CONSOLE}/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fnightly-report"
        f"/log-events/ecs$252Freport$252F{SUCCESS_TASK_ID}"
    )
    assert links.logs_insights is not None
    assert links.logs_insights.startswith(
        f"{CONSOLE}/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D$257E$2528end$257E"
    )
    # source ~(~'/ecs/nightly-report) in JSURL, escape()d, encodeURIComponent-ed, % written as $.
    assert "$257E$2528$257E$2527*2fecs*2fnightly-report$2529" in links.logs_insights


def log_url(region: str, group: str, stream: str) -> str:
    """Only joins the parts; every group and stream below is written already encoded, by hand."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/"
        f"log-group/{group}/log-events/{stream}"
    )


def task_url(region: str, cluster: str, task_id: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/{task_id}"
        f"/configuration?region={region}"
    )


def awslogs_run(group: str, container: str, task_id: str, cluster: str = "batch") -> tuple[str, str]:
    """A run in eu-west-1 logging with awslogs to ``/ecs/<group>`` under stream prefix ``ecs``: its task URL,
    and the URL of stream ``ecs/<container>/<task id>`` with each "/" written encoded ($252F) by hand."""
    return (
        task_url("eu-west-1", cluster, task_id),
        log_url("eu-west-1", f"$252Fecs$252F{group}", f"ecs$252F{container}$252F{task_id}"),
    )


#: sample -> (task URL, log stream URL of the deciding container, or None when it cannot be known)
SAMPLE_LINKS: dict[str, tuple[str, str | None]] = {
    "stopped-success": awslogs_run("nightly-report", "report", SUCCESS_TASK_ID),
    "stopped-nonzero-exit": awslogs_run("invoice-export", "export", EXPORT_TASK_ID),
    "stopped-oom": (  # old ARN format, EC2, awslogs without a prefix: the stream is the Docker id
        task_url("us-east-1", "legacy", "50377f48-51c3-4b43-a2f7-20d8cdc1bd7d"),
        log_url(
            "us-east-1",
            "$252Fecs$252Fimage-resize",
            "494191fdc09a2c0cc2d153a809d13789348c57714e907c1e0508108ebeb4f353",
        ),
    ),
    # The container never started: no log stream exists, so none is linked.
    "stopped-image-pull-failed": (task_url("eu-west-1", "batch", "fb018423362123abab61188738ceb2b5"), None),
    "stopped-secrets-failed": (task_url("eu-west-1", "batch", "12d69e898c51ee3f7d74cde15bab4000"), None),
    "stopped-spot-interrupted": awslogs_run("ml-features", "features", "dbeef85c0c31cfad8d8b866aeaf6dd39"),
    "stopped-user": awslogs_run("nightly-report", "report", "3dda76dd03966c5f8499ea653351cd50"),
    "stopped-timed-out": awslogs_run("invoice-export", "export", "fef6b2e5a0a5ebdbb50105b8681679a5"),
    "stopped-sidecar-app-failed": awslogs_run("warehouse-load", "loader", "f2712c968a5f6999ca6b18e3f7a4ebdf"),
    "stopped-sidecar-agent-failed": awslogs_run(
        "warehouse-load", "loader", "086890bc7695ae03e9623ca0853e819d"
    ),
    "stopped-firelens": (  # FireLens cloudwatch_logs: log_stream_prefix + "<container>-firelens-<task id>"
        task_url("eu-west-1", "batch", "bced6587aa98f130bfc5b2fc7d50f358"),
        log_url(
            "eu-west-1", "$252Fecs$252Faudit-export", "audit-audit-firelens-bced6587aa98f130bfc5b2fc7d50f358"
        ),
    ),
    "stopped-taskdef-deleted": (task_url("eu-west-1", "batch", "dcce1dbef8668c5b6a69263cf7a98251"), None),
    "stopped-service-task": awslogs_run("web", "web", "824b37477a70f939b89f341e148ca571", cluster="apps"),
}


@pytest.mark.parametrize("sample", sorted(SAMPLE_LINKS))
def test_each_stopped_sample_links_its_task_and_its_deciding_containers_log_stream(
    sample: str, load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event(sample)

    report = report_of(
        raw, FixedTaskDefinitions(seeded_task_definition(raw)), settings=Settings(include_service_tasks=True)
    )

    assert (report.links.task, report.links.log_stream) == SAMPLE_LINKS[sample]
    assert (report.links.log_missing_reason is None) is (report.links.log_stream is not None)


# --- secrets in reasons never leave the function (issue 13, item 6) ----------------------------------------

# Fakes assembled at run time, so secret scanners on push do not flag them.
ROBOT_TOKEN = "ghp" + "_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LEAKS = (ROBOT_TOKEN, "hunter2", KEY_ID, SECRET_KEY)


def _with_secret_reasons(raw: dict[str, Any]) -> dict[str, Any]:
    detail = raw["detail"]
    pull = (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
        f"https://robot:{ROBOT_TOKEN}@registry.example.com/v2/rclone/rclon:1.66.0: not found"
    )
    for container in detail["containers"]:
        container["reason"] = pull
    detail["stoppedReason"] = f"{pull}; password=hunter2 {KEY_ID} {SECRET_KEY}"
    return raw


def _everything_said_about(report: RunReport) -> str:
    """Every text that leaves the function for a report: Slack, Datadog, the log line, the history."""
    from ecswatch.history.records import run_record
    from ecswatch.notifications.alerts import alert_for, datadog_event
    from ecswatch.notifications.render import render_text, summary

    return "\n".join(
        [
            repr(alert_for(report)),
            repr(datadog_event(report)),
            repr(summary(report)),
            render_text(report),
            repr(run_record(report)),
            repr(report),
        ]
    )


def test_a_secret_in_a_container_reason_or_stopped_reason_reaches_nothing_that_leaves_the_function(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = _with_secret_reasons(load_event("stopped-image-pull-failed"))

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)))

    said = _everything_said_about(report)
    assert [leak for leak in LEAKS if leak in said] == []
    assert report.outcome is Outcome.FAILED_TO_START
    assert report.cause.startswith(
        "image pull failed: CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        "failed to resolve ref https://robot:[REDACTED]@registry.example.com/"
    )


def test_a_secret_in_the_stopped_reason_of_a_failed_run_is_hidden_in_its_cause(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event("stopped-nonzero-exit")
    raw["detail"]["stopCode"] = "TaskFailedToStart"
    raw["detail"]["stoppedReason"] = f"Task failed: DB_PASSWORD=hunter2 AWS_ACCESS_KEY_ID={KEY_ID}"

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)))

    assert "hunter2" not in report.cause
    assert KEY_ID not in report.cause
    assert report.event.stopped_reason == "Task failed: DB_PASSWORD=[REDACTED] AWS_ACCESS_KEY_ID=[REDACTED]"


def test_a_secret_cut_in_half_by_the_cause_limit_is_still_hidden(
    load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    # given a reason whose token straddles the 300-character cut of the cause
    raw = load_event("stopped-image-pull-failed")
    reason = "CannotPullContainerError: " + "x" * 250 + f" token {ROBOT_TOKEN}"
    for container in raw["detail"]["containers"]:
        container["reason"] = reason
    raw["detail"]["stoppedReason"] = reason

    report = report_of(raw, FixedTaskDefinitions(seeded_task_definition(raw)))

    assert ROBOT_TOKEN[:12] not in report.cause
