"""Specification of ``ecswatch.events.task``: how a raw ``ECS Task State Change`` becomes a ``TaskEvent``.

Each case starts from a sample in ``events/`` (shaped like what AWS delivers, see events/SOURCES.md)
and, where one quirk needs isolating, edits a single field of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ecswatch.events.task import (
    MalformedEvent,
    TaskRef,
    event_kind,
    is_task_state_change,
    parse_task_event,
    parse_timestamp,
)
from ecswatch.events.vocabulary import TASK_STATE_CHANGE

LoadEvent = Callable[[str], dict[str, Any]]

EVENTS_DIR = Path(__file__).parents[2] / "events"
#: Real events, copied unchanged from their public sources (see its README).
AWS_SAMPLES = Path(__file__).parents[2] / "tests" / "aws-samples"

SUCCESS_TASK_ID = "c50ead5370796d06e8a8c6c917151c46"
OOM_TASK_ID = "50377f48-51c3-4b43-a2f7-20d8cdc1bd7d"


def _is_task_event_file(path: Path) -> bool:
    raw = json.loads(path.read_text())
    return isinstance(raw, dict) and raw.get("detail-type") == TASK_STATE_CHANGE


def _own_task_event_samples() -> list[str]:
    return sorted(
        p.stem for p in EVENTS_DIR.glob("*.json") if not p.stem.startswith("bad-") and _is_task_event_file(p)
    )


def _real_task_event_samples() -> list[Path]:
    """The real ECS Task State Change events in ``tests/aws-samples/``."""
    return [p for p in sorted(AWS_SAMPLES.glob("*.json")) if _is_task_event_file(p)]


# --- task and task definition ARNs -------------------------------------------------------------


def test_new_format_task_arn_gives_cluster_and_task_id(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert event.task == TaskRef(
        arn=f"arn:aws:ecs:eu-west-1:123456789012:task/batch/{SUCCESS_TASK_ID}",
        task_id=SUCCESS_TASK_ID,
        cluster="batch",
        region="eu-west-1",
        account="123456789012",
    )


def test_old_format_task_arn_takes_the_cluster_from_cluster_arn(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-oom"))

    assert (event.task.task_id, event.task.cluster, event.task.region) == (OOM_TASK_ID, "legacy", "us-east-1")


def test_old_format_task_arn_without_cluster_arn_leaves_the_cluster_empty(load_event: LoadEvent) -> None:
    raw = load_event("stopped-oom")
    del raw["detail"]["clusterArn"]

    event = parse_task_event(raw)

    assert (event.task.task_id, event.task.cluster) == (OOM_TASK_ID, "")


def test_new_format_task_arn_without_cluster_arn_keeps_its_own_cluster(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["clusterArn"]

    assert parse_task_event(raw).task.cluster == "batch"


def test_task_definition_arn_gives_family_and_revision(load_event: LoadEvent) -> None:
    ref = parse_task_event(load_event("stopped-nonzero-exit")).task_definition

    assert (ref.family, ref.revision, ref.family_revision) == ("invoice-export", 12, "invoice-export:12")


# --- timestamps ----------------------------------------------------------------------------------


def test_second_precision_timestamps_parse_as_utc(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-oom"))

    assert event.timeline.started == datetime(2020, 9, 15, 9, 0, 5, tzinfo=UTC)
    assert event.event_time == datetime(2020, 9, 15, 9, 6, 42, tzinfo=UTC)


def test_millisecond_timestamps_keep_their_milliseconds(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert event.timeline.stopped == datetime(2025, 3, 4, 2, 15, 19, 502000, tzinfo=UTC)


def test_timestamps_with_fewer_than_three_fractional_digits_parse(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert event.timeline.pull_stopped == datetime(2025, 3, 4, 2, 0, 33, 950000, tzinfo=UTC)


def test_one_event_may_mix_second_and_millisecond_precision(load_event: LoadEvent) -> None:
    timeline = parse_task_event(load_event("stopped-user")).timeline

    assert timeline.execution_stopped == datetime(2025, 3, 5, 3, 47, 49, tzinfo=UTC)
    assert timeline.stopping == datetime(2025, 3, 5, 3, 47, 18, 225000, tzinfo=UTC)


def test_timeline_keeps_timestamps_as_sent_even_when_out_of_lifecycle_order(load_event: LoadEvent) -> None:
    timeline = parse_task_event(load_event("stopped-image-pull-failed")).timeline

    assert timeline.execution_stopped is not None
    assert timeline.stopping is not None
    assert timeline.execution_stopped < timeline.stopping


def test_task_that_never_started_has_no_pull_or_start_times(load_event: LoadEvent) -> None:
    timeline = parse_task_event(load_event("stopped-image-pull-failed")).timeline

    assert (timeline.pull_started, timeline.pull_stopped, timeline.started) == (None, None, None)
    assert timeline.created == datetime(2025, 3, 4, 7, 0, 4, 226000, tzinfo=UTC)


def test_running_event_has_no_stop_times(load_event: LoadEvent) -> None:
    timeline = parse_task_event(load_event("running-fargate")).timeline

    assert (timeline.stopping, timeline.execution_stopped, timeline.stopped) == (None, None, None)


def test_empty_timestamp_reads_as_absent() -> None:
    assert parse_timestamp("") is None


# --- containers ----------------------------------------------------------------------------------


def test_absent_exit_code_reads_as_none(load_event: LoadEvent) -> None:
    container = parse_task_event(load_event("stopped-image-pull-failed")).container("sync")

    assert container is not None
    assert container.exit_code is None
    assert not container.exited


def test_explicit_null_exit_code_reads_as_none(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["containers"][0]["exitCode"] = None

    assert parse_task_event(raw).containers[0].exit_code is None


def test_each_container_keeps_its_own_exit_code(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-nonzero-exit"))

    assert {c.name: c.exit_code for c in event.containers} == {"datadog-agent": 0, "export": 2}


def test_container_reason_is_kept_verbatim(load_event: LoadEvent) -> None:
    container = parse_task_event(load_event("stopped-oom")).container("resize")

    assert container is not None
    assert container.reason == "OutOfMemoryError: Container killed due to memory usage"


def test_exit_137_after_a_stop_carries_no_reason(load_event: LoadEvent) -> None:
    container = parse_task_event(load_event("stopped-user")).container("report")

    assert container is not None
    assert (container.exit_code, container.reason) == (137, None)


def test_container_keeps_image_and_runtime_id(load_event: LoadEvent) -> None:
    container = parse_task_event(load_event("stopped-oom")).container("resize")

    assert container is not None
    assert container.image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/image-resize:1.8.2"
    assert container.runtime_id == "494191fdc09a2c0cc2d153a809d13789348c57714e907c1e0508108ebeb4f353"


def test_container_lookup_of_an_unknown_name_gives_none(load_event: LoadEvent) -> None:
    assert parse_task_event(load_event("stopped-success")).container("datadog-agent") is None


# --- task fields ---------------------------------------------------------------------------------


def test_cpu_and_memory_stay_strings(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-spot-interrupted"))

    assert (event.cpu, event.memory) == ("4096", "16384")


@pytest.mark.parametrize(
    ("name", "version"),
    [("running-fargate", 4), ("stopped-nonzero-exit-deprovisioning", 5), ("stopped-nonzero-exit", 6)],
)
def test_detail_version_is_read(load_event: LoadEvent, name: str, version: int) -> None:
    assert parse_task_event(load_event(name)).version == version


def test_missing_detail_version_reads_as_zero(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["version"]

    assert parse_task_event(raw).version == 0


def test_fargate_spot_task_names_its_capacity_provider_and_platform(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-spot-interrupted"))

    assert (event.launch_type, event.capacity_provider, event.platform_version) == (
        "FARGATE",
        "FARGATE_SPOT",
        "1.4.0",
    )


def test_ec2_task_has_no_capacity_provider_or_platform_version(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-oom"))

    assert (event.launch_type, event.capacity_provider, event.platform_version) == ("EC2", None, None)


def test_scheduled_batch_task_carries_its_rule_and_family_group(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert (event.started_by, event.group) == ("events-rule/nightly-report-0200", "family:nightly-report")


def test_task_without_started_by_reads_as_none(load_event: LoadEvent) -> None:
    raw = load_event("running-fargate")
    del raw["detail"]["startedBy"]

    assert parse_task_event(raw).started_by is None


def test_stop_code_and_reason_are_kept_verbatim(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-timed-out"))

    assert (event.stop_code, event.stopped_reason) == (
        "UserInitiated",
        "ecswatch watchdog: exceeded max run time 2h0m0s",
    )


def test_event_id_and_availability_zone_are_kept(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert (event.event_id, event.availability_zone) == ("38e5602b-590f-4f4c-9924-144fb65b46a9", "eu-west-1b")


# --- lifecycle: which event is the stop ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "is_stopped"),
    [("stopped-success", True), ("stopped-nonzero-exit-deprovisioning", False), ("running-fargate", False)],
)
def test_only_the_stopped_event_is_the_stop(load_event: LoadEvent, name: str, is_stopped: bool) -> None:
    assert parse_task_event(load_event(name)).is_stopped is is_stopped


def test_deprovisioning_event_carries_the_stop_code_but_is_not_the_stop(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-nonzero-exit-deprovisioning"))

    assert event.stop_code == "EssentialContainerExited"
    assert not event.is_stopped


def test_deprovisioning_event_is_an_earlier_version_of_the_same_task(load_event: LoadEvent) -> None:
    deprovisioning = parse_task_event(load_event("stopped-nonzero-exit-deprovisioning"))
    stopped = parse_task_event(load_event("stopped-nonzero-exit"))

    assert deprovisioning.task == stopped.task
    assert deprovisioning.version < stopped.version


def test_running_event_is_running(load_event: LoadEvent) -> None:
    assert parse_task_event(load_event("running-fargate")).is_running


def test_running_task_that_is_being_stopped_is_not_running(load_event: LoadEvent) -> None:
    raw = load_event("running-fargate")
    raw["detail"]["desiredStatus"] = "STOPPED"  # e.g. the Fargate Spot two-minute warning

    assert not parse_task_event(raw).is_running


def test_stopped_event_is_not_running(load_event: LoadEvent) -> None:
    assert not parse_task_event(load_event("stopped-success")).is_running


def test_service_task_is_recognised_by_its_group(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-service-task"))

    assert event.is_service_task
    assert event.started_by == "ecs-svc/4827339571047738211"


def test_batch_task_is_not_a_service_task(load_event: LoadEvent) -> None:
    assert not parse_task_event(load_event("stopped-success")).is_service_task


def test_task_without_a_group_is_not_a_service_task(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["group"]

    event = parse_task_event(raw)

    assert (event.group, event.is_service_task) == (None, False)


def test_dedupe_key_tells_the_states_of_one_stop_apart(load_event: LoadEvent) -> None:
    deprovisioning = parse_task_event(load_event("stopped-nonzero-exit-deprovisioning"))
    stopped = parse_task_event(load_event("stopped-nonzero-exit"))

    assert deprovisioning.dedupe_key != stopped.dedupe_key


def test_redelivered_event_has_the_same_dedupe_key(load_event: LoadEvent) -> None:
    first = parse_task_event(load_event("stopped-success"))
    again = parse_task_event(load_event("stopped-success"))

    assert first.dedupe_key == again.dedupe_key


# --- overrides -----------------------------------------------------------------------------------


def test_container_override_keeps_command_and_environment(load_event: LoadEvent) -> None:
    overrides = {o.name: o for o in parse_task_event(load_event("stopped-nonzero-exit")).overrides}

    export = overrides["export"]
    assert export.command == ("python", "-m", "invoice_export", "--date", "2025-03-03", "--format", "peppol")
    assert export.environment == (("EXPORT_DATE", "2025-03-03"), ("LOG_LEVEL", "DEBUG"))


def test_name_only_override_has_no_command_or_environment(load_event: LoadEvent) -> None:
    overrides = {o.name: o for o in parse_task_event(load_event("stopped-nonzero-exit")).overrides}

    assert (overrides["datadog-agent"].command, overrides["datadog-agent"].environment) == (None, ())


def test_missing_overrides_read_as_none(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["overrides"]

    assert parse_task_event(raw).overrides == ()


# --- malformed and foreign events ----------------------------------------------------------------


def test_event_without_task_arn_is_malformed(load_event: LoadEvent) -> None:
    with pytest.raises(MalformedEvent, match=r"detail\.taskArn is missing"):
        parse_task_event(load_event("bad-missing-task-arn"))


def test_deployment_event_is_rejected_as_not_a_task_state_change(load_event: LoadEvent) -> None:
    with pytest.raises(MalformedEvent, match=r"not an ECS Task State Change event: aws\.ecs/ECS Deployment"):
        parse_task_event(load_event("bad-deployment-event"))


def test_deployment_event_is_recognised_without_parsing(load_event: LoadEvent) -> None:
    raw = load_event("bad-deployment-event")

    assert not is_task_state_change(raw)
    assert event_kind(raw) == "aws.ecs/ECS Deployment State Change"


def test_exit_code_sent_as_a_string_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-nonzero-exit")
    raw["detail"]["containers"][1]["exitCode"] = "2"

    with pytest.raises(MalformedEvent, match=r"containers\[1\]\.exitCode is not an integer: '2'"):
        parse_task_event(raw)


def test_exit_code_sent_as_a_boolean_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["containers"][0]["exitCode"] = False

    with pytest.raises(MalformedEvent, match=r"containers\[0\]\.exitCode"):
        parse_task_event(raw)


def test_timestamp_without_a_zone_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["stoppedAt"] = "2025-03-04T02:15:19.502"

    with pytest.raises(MalformedEvent, match="stoppedAt: timestamp without a time zone"):
        parse_task_event(raw)


def test_unreadable_timestamp_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["startedAt"] = "yesterday at two"

    with pytest.raises(MalformedEvent, match="startedAt: unreadable timestamp"):
        parse_task_event(raw)


def test_timestamp_sent_as_epoch_number_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["createdAt"] = 1741053603118

    with pytest.raises(MalformedEvent, match="createdAt: timestamp is not a string"):
        parse_task_event(raw)


def test_version_sent_as_a_string_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["version"] = "6"

    with pytest.raises(MalformedEvent, match=r"detail\.version is not an integer"):
        parse_task_event(raw)


def test_containers_that_are_not_a_list_are_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["containers"] = {"name": "report"}

    with pytest.raises(MalformedEvent, match="containers is not a list"):
        parse_task_event(raw)


def test_container_without_a_name_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["containers"][0]["name"]

    with pytest.raises(MalformedEvent, match=r"containers\[0\]\.name is missing"):
        parse_task_event(raw)


def test_event_without_last_status_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["lastStatus"]

    with pytest.raises(MalformedEvent, match=r"detail\.lastStatus is missing"):
        parse_task_event(raw)


def test_event_without_detail_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]

    with pytest.raises(MalformedEvent, match="detail is missing"):
        parse_task_event(raw)


def test_event_that_is_not_a_json_object_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="event is a list"):
        parse_task_event([])  # type: ignore[arg-type]


def test_task_arn_of_another_resource_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-service-task")
    raw["detail"]["taskArn"] = "arn:aws:ecs:eu-west-1:123456789012:service/apps/web"

    with pytest.raises(MalformedEvent, match="not a task ARN"):
        parse_task_event(raw)


def test_task_definition_arn_without_revision_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["taskDefinitionArn"] = "arn:aws:ecs:eu-west-1:123456789012:task-definition/nightly-report"

    with pytest.raises(MalformedEvent, match="not a task definition ARN"):
        parse_task_event(raw)


def test_cluster_arn_that_is_not_an_arn_is_malformed(load_event: LoadEvent) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["clusterArn"] = "batch"

    with pytest.raises(MalformedEvent, match="not an ARN: 'batch'"):
        parse_task_event(raw)


# --- every sample, ours and AWS's ----------------------------------------------------------------


@pytest.mark.parametrize("name", _own_task_event_samples())
def test_every_project_sample_task_event_parses(load_event: LoadEvent, name: str) -> None:
    raw = load_event(name)

    event = parse_task_event(raw)

    assert event.task.arn == raw["resources"][0]
    assert event.version == raw["detail"]["version"]


@pytest.mark.parametrize(
    ("index", "name"), [(0, "stopped-success"), (1, "stopped-nonzero-exit"), (3, "stopped-oom")]
)
def test_sqs_batch_bodies_parse_like_their_samples(load_event: LoadEvent, index: int, name: str) -> None:
    body = load_event("sqs-batch")["Records"][index]["body"]

    assert parse_task_event(json.loads(body)) == parse_task_event(load_event(name))


def test_the_real_aws_task_events_are_in_the_repository() -> None:
    """A clone runs the next test over every real sample: none may go missing silently."""
    assert [p.name for p in _real_task_event_samples()] == [
        "awssamples-task-stopped-ec2-service-user-initiated.json",
        "docs-task-running-fargate-2020.json",
        "fivexl-task-stopped-fargate-service-sidecar-exit2.json",
    ]


@pytest.mark.parametrize("path", _real_task_event_samples(), ids=lambda p: p.name)
def test_real_aws_task_events_parse_faithfully(path: Path) -> None:
    raw = json.loads(path.read_text())
    detail = raw["detail"]

    event = parse_task_event(raw)

    assert event.task.arn == detail["taskArn"]
    assert event.task.task_id == detail["taskArn"].rsplit("/", 1)[-1]
    assert event.task.cluster == detail["clusterArn"].rsplit("/", 1)[-1]
    assert event.version == detail["version"]
    assert event.timeline.created == parse_timestamp(detail["createdAt"])
    assert [(c.name, c.exit_code) for c in event.containers] == [
        (c["name"], c.get("exitCode")) for c in detail["containers"]
    ]


# --- values that must not reach a link or a number: forged regions, huge exit codes, null containers


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "evil.example/x#"),
        ("region", "eu-west-1.evil.example"),
        ("region", "EU-WEST-1"),
        ("account", "1234567890123"),
        ("account", "evil.example"),
        ("partition", "evil"),
    ],
)
def test_a_task_arn_with_a_forged_part_is_malformed_before_any_link_is_built(
    load_event: LoadEvent, field: str, value: str
) -> None:
    raw = load_event("stopped-nonzero-exit")
    parts = dict(
        zip(
            ("arn", "partition", "service", "region", "account", "resource"),
            raw["detail"]["taskArn"].split(":", 5),
            strict=True,
        )
    )
    parts[field] = value
    raw["detail"]["taskArn"] = ":".join(parts.values())

    with pytest.raises(MalformedEvent, match=f"not an AWS {field}"):
        parse_task_event(raw)


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "cn-north-1",
        "ap-southeast-5",
        "il-central-1",
        "us-isob-east-1",
    ],
)
def test_every_real_region_format_is_accepted(load_event: LoadEvent, region: str) -> None:
    raw = load_event("stopped-nonzero-exit")
    pieces = raw["detail"]["taskArn"].split(":")
    pieces[3] = region
    raw["detail"]["taskArn"] = ":".join(pieces)

    assert parse_task_event(raw).task.region == region


def test_an_exit_code_beyond_32_bits_is_unknown_and_its_raw_text_is_kept(load_event: LoadEvent) -> None:
    raw = load_event("stopped-nonzero-exit")
    raw["detail"]["containers"][1]["exitCode"] = 10**309

    container = parse_task_event(raw).containers[1]

    assert container.exit_code is None
    assert container.reason is not None
    assert "exit code 1000000000" in container.reason
    assert "not a 32-bit exit code" in container.reason


def test_a_null_container_is_skipped_and_the_rest_of_the_event_is_read(load_event: LoadEvent) -> None:
    raw = load_event("stopped-nonzero-exit")
    names = [c["name"] for c in raw["detail"]["containers"]]
    raw["detail"]["containers"].insert(0, None)

    assert [c.name for c in parse_task_event(raw).containers] == names
