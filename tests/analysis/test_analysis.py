"""Specification of ``ecswatch.analysis.outcome``: how a stopped task ended, who decided it, how long it took.

Every sample in ``events/`` has its verdict pinned in one table. Each edge case changes one field of a
sample (or builds a small task inline) to isolate a rule that AWS's real strings demand; the strings are
the ones in ``tests/aws-samples/stop-reasons.md``. Pure: no AWS, no mocks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ecswatch.analysis.outcome import analyse, phase_durations
from ecswatch.events.task import TaskEvent, parse_task_event
from ecswatch.events.taskdef import TaskDefinition, parse_task_definition
from ecswatch.run import Outcome, PhaseDurations

LoadEvent = Callable[[str], dict[str, Any]]
SeededTaskDefinition = Callable[[dict[str, Any]], TaskDefinition | None]

EVENTS_DIR = Path(__file__).parents[2] / "events"
#: Real events, copied unchanged from their public sources (see its README).
AWS_SAMPLES = Path(__file__).parents[2] / "tests" / "aws-samples"
FIVEXL_SAMPLE = AWS_SAMPLES / "fivexl-task-stopped-fargate-service-sidecar-exit2.json"

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
DATADOG_IMAGE = "public.ecr.aws/datadog/agent:7"
FLUENT_BIT_IMAGE = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"


def with_detail(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``raw`` whose detail has these fields set; ``None`` removes a field."""
    edited = copy.deepcopy(raw)
    for key, value in changes.items():
        if value is None:
            edited["detail"].pop(key, None)
        else:
            edited["detail"][key] = value
    return edited


def container(
    name: str, exit_code: int | None = None, reason: str | None = None, image: str | None = None
) -> dict[str, Any]:
    """A stopped container as the event lists it; ``exitCode``/``reason`` only when given, as AWS does."""
    entry: dict[str, Any] = {
        "name": name,
        "lastStatus": "STOPPED",
        "image": image or f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{name}:1.0",
    }
    if exit_code is not None:
        entry["exitCode"] = exit_code
    if reason is not None:
        entry["reason"] = reason
    return entry


def ran(load_event: LoadEvent, *containers: dict[str, Any], **detail: Any) -> TaskEvent:
    """``stopped-success`` (a Fargate job that started and ran) with these containers and detail fields."""
    raw = with_detail(load_event("stopped-success"), **detail)
    if containers:
        raw["detail"]["containers"] = list(containers)
    return parse_task_event(raw)


def never_ran(load_event: LoadEvent, reason: str, stop_code: str | None = "TaskFailedToStart") -> TaskEvent:
    """``stopped-image-pull-failed`` (no startedAt, no exit code) with only the task-level reason left."""
    raw = with_detail(load_event("stopped-image-pull-failed"), stoppedReason=reason, stopCode=stop_code)
    raw["detail"]["containers"] = [container("sync", image="rclone/rclone:1.66.0")]
    return parse_task_event(raw)


def definition(
    name: str, *, essential: bool = True, image: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "image": image or f"{name}:1.0", "essential": essential, **extra}


def taskdef(*containers: dict[str, Any]) -> TaskDefinition:
    return parse_task_definition(
        {
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/nightly-report:7",
            "family": "nightly-report",
            "revision": 7,
            "containerDefinitions": list(containers),
        }
    )


# --- every sample event -------------------------------------------------------------------------------

#: sample -> (outcome, deciding container, its exit code, a piece of the cause)
SAMPLE_VERDICTS: dict[str, tuple[Outcome, str, int | None, str]] = {
    "stopped-success": (Outcome.SUCCEEDED, "report", 0, "container 'report' exited 0"),
    "stopped-nonzero-exit": (Outcome.FAILED, "export", 2, "container 'export' exited 2"),
    # Not the stop (the pipeline skips it), but its fields already say the same thing.
    "stopped-nonzero-exit-deprovisioning": (Outcome.FAILED, "export", 2, "container 'export' exited 2"),
    "stopped-oom": (
        Outcome.OUT_OF_MEMORY,
        "resize",
        137,
        "container 'resize' was killed for memory (task memory 1024 MiB)",
    ),
    "stopped-image-pull-failed": (
        Outcome.FAILED_TO_START,
        "sync",
        None,
        "image pull failed: CannotPullContainerError: inspect image has been retried 1 time(s): failed to "
        'resolve ref "docker.io/rclone/rclon:1.66.0"',
    ),
    "stopped-secrets-failed": (
        Outcome.FAILED_TO_START,
        "recon",
        None,
        "could not fetch secrets or registry credentials: ResourceInitializationError: unable to pull "
        "secrets or registry auth",
    ),
    "stopped-spot-interrupted": (
        Outcome.SPOT_INTERRUPTED,
        "features",
        143,
        "Fargate Spot capacity was reclaimed",
    ),
    "stopped-user": (Outcome.STOPPED_BY_USER, "report", 137, "stopped by a user (StopTask)"),
    "stopped-timed-out": (
        Outcome.TIMED_OUT,
        "export",
        137,
        "stopped by ecswatch: exceeded max run time 2h0m0s",
    ),
    "stopped-sidecar-app-failed": (Outcome.FAILED, "loader", 1, "container 'loader' exited 1"),
    "stopped-sidecar-agent-failed": (Outcome.SUCCEEDED, "loader", 0, "container 'loader' exited 0"),
    "stopped-firelens": (Outcome.FAILED, "audit", 3, "container 'audit' exited 3"),
    "stopped-taskdef-deleted": (Outcome.FAILED, "etl", 1, "container 'etl' exited 1"),
    "stopped-service-task": (
        Outcome.STOPPED_BY_SCHEDULER,
        "web",
        0,
        "Scaling activity initiated by (deployment ecs-svc/4827339571047738211)",
    ),
}


def test_the_verdict_table_covers_every_stopped_sample() -> None:
    assert set(SAMPLE_VERDICTS) == {path.stem for path in EVENTS_DIR.glob("stopped-*.json")}


@pytest.mark.parametrize("sample", sorted(SAMPLE_VERDICTS))
def test_each_sample_gets_its_outcome_deciding_container_exit_code_and_cause(
    sample: str, load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    outcome, decider, exit_code, cause = SAMPLE_VERDICTS[sample]
    raw = load_event(sample)

    analysis = analyse(parse_task_event(raw), seeded_task_definition(raw))

    assert (analysis.outcome, analysis.deciding_container, analysis.exit_code) == (
        outcome,
        decider,
        exit_code,
    )
    assert cause in analysis.cause


@pytest.mark.parametrize("sample", sorted(SAMPLE_VERDICTS))
def test_each_sample_gets_the_same_verdict_when_its_task_definition_cannot_be_read(
    sample: str, load_event: LoadEvent, seeded_task_definition: SeededTaskDefinition
) -> None:
    raw = load_event(sample)
    event = parse_task_event(raw)

    with_definition = analyse(event, seeded_task_definition(raw))
    without = analyse(event, None)

    assert (without.outcome, without.deciding_container, without.exit_code) == (
        with_definition.outcome,
        with_definition.deciding_container,
        with_definition.exit_code,
    )


def test_the_real_fivexl_event_blames_the_app_that_exited_2_not_the_envoy_sidecar() -> None:
    event = parse_task_event(json.loads(FIVEXL_SAMPLE.read_text()))

    analysis = analyse(event, None)

    assert (analysis.outcome, analysis.deciding_container, analysis.exit_code) == (Outcome.FAILED, "app", 2)


# --- phase durations ----------------------------------------------------------------------------------


def test_durations_of_a_fargate_run_are_exact_to_the_millisecond(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-success"))

    assert phase_durations(event.timeline) == PhaseDurations(
        provisioning=18.284,  # 02:00:03.118 created -> 02:00:21.402 pull started
        image_pull=12.548,  # -> 02:00:33.95 pull stopped
        start_latency=33.089,  # created -> 02:00:36.207 started
        run_time=855.697,  # started -> 02:14:51.904 execution stopped
        stopping=26.872,  # 02:14:52.63 stopping -> 02:15:19.502 stopped
        total=916.384,  # created -> stopped
    )


def test_durations_of_an_ec2_run_with_second_precision_timestamps(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-oom"))

    assert phase_durations(event.timeline) == PhaseDurations(
        provisioning=1.0, image_pull=2.0, start_latency=4.0, run_time=396.0, stopping=1.0, total=401.0
    )


def test_a_task_that_never_started_has_unknown_pull_start_and_run_durations(load_event: LoadEvent) -> None:
    event = parse_task_event(load_event("stopped-image-pull-failed"))

    assert phase_durations(event.timeline) == PhaseDurations(
        provisioning=None, image_pull=None, start_latency=None, run_time=None, stopping=13.586, total=42.164
    )


def test_run_time_falls_back_to_stopping_at_when_execution_stopped_at_precedes_started_at(
    load_event: LoadEvent,
) -> None:
    # The real fivexl event has executionStoppedAt 8.6 s before startedAt.
    event = ran(load_event, executionStoppedAt="2025-03-04T02:00:27.539Z")

    # startedAt 02:00:36.207 -> stoppingAt 02:14:52.63
    assert phase_durations(event.timeline).run_time == 856.423


def test_the_real_fivexl_event_times_its_run_to_stopping_at() -> None:
    event = parse_task_event(json.loads(FIVEXL_SAMPLE.read_text()))

    # startedAt 15:34:27.118 -> stoppingAt 15:34:59.778 (executionStoppedAt is 15:34:18.539)
    assert phase_durations(event.timeline).run_time == 32.66


@pytest.mark.parametrize(
    ("field", "value", "phase"),
    [
        ("pullStoppedAt", "2025-03-04T02:00:20.000Z", "image_pull"),
        ("stoppedAt", "2025-03-04T02:14:50.000Z", "stopping"),
        ("startedAt", "2025-03-04T02:00:01.000Z", "start_latency"),
    ],
)
def test_a_clock_going_backwards_gives_an_unknown_duration_not_a_negative_one(
    field: str, value: str, phase: str, load_event: LoadEvent
) -> None:
    durations = phase_durations(ran(load_event, **{field: value}).timeline)

    assert getattr(durations, phase) is None
    assert all(seconds is None or seconds >= 0 for seconds in msgspec.structs.asdict(durations).values())


# --- out of memory ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exit_code", [137, 0, None], ids=["exit-137", "exit-0", "no-exit-code"])
def test_the_oom_reason_means_out_of_memory_whatever_the_exit_code(
    exit_code: int | None, load_event: LoadEvent
) -> None:
    # aws/amazon-ecs-agent#2467 (exit 0) and #5135 (no exitCode) show the reason without a 137.
    event = ran(load_event, container("report", exit_code, OOM_REASON))

    analysis = analyse(event, None)

    assert analysis.outcome is Outcome.OUT_OF_MEMORY
    assert analysis.cause == "container 'report' was killed for memory (task memory 1024 MiB)"


def test_an_oom_reason_at_task_level_only_is_out_of_memory(load_event: LoadEvent) -> None:
    event = ran(load_event, container("report", 137), stoppedReason=OOM_REASON)

    assert analyse(event, None).outcome is Outcome.OUT_OF_MEMORY


def test_exit_137_after_a_user_stop_is_a_user_stop_not_oom(load_event: LoadEvent) -> None:
    # SIGKILL after the 30 s stop timeout; no OutOfMemoryError reason on the container.
    event = parse_task_event(load_event("stopped-user"))

    analysis = analyse(event, None)

    assert (analysis.outcome, analysis.exit_code) == (Outcome.STOPPED_BY_USER, 137)


def test_exit_137_when_the_essential_container_exits_is_a_failure_by_sigkill_not_oom(
    load_event: LoadEvent,
) -> None:
    event = ran(load_event, container("report", 137))

    analysis = analyse(event, None)

    assert analysis.outcome is Outcome.FAILED
    assert analysis.cause == "container 'report' exited 137 (SIGKILL)"


def test_a_failing_exit_code_keeps_the_container_reason_in_the_cause(load_event: LoadEvent) -> None:
    event = ran(load_event, container("report", 139, "Segmentation fault in libvips"))

    assert (
        analyse(event, None).cause == "container 'report' exited 139 (SIGSEGV): Segmentation fault in libvips"
    )


# --- stop codes and reasons ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_code", "reason"),
    [
        ("SpotInterruption", "Your Spot Task was interrupted."),
        ("TerminationNotice", "Your Spot Task was interrupted."),  # the 2023 docs' name for the same stop
        (None, "Your Spot Task was interrupted."),
    ],
)
def test_a_spot_interruption_is_spot_interrupted_even_though_the_app_exited_143(
    stop_code: str | None, reason: str, load_event: LoadEvent
) -> None:
    raw = with_detail(load_event("stopped-spot-interrupted"), stopCode=stop_code, stoppedReason=reason)

    analysis = analyse(parse_task_event(raw), None)

    assert (analysis.outcome, analysis.exit_code) == (Outcome.SPOT_INTERRUPTED, 143)


@pytest.mark.parametrize(
    ("exit_code", "outcome"), [(0, Outcome.SUCCEEDED), (2, Outcome.FAILED)], ids=["exit-0", "exit-2"]
)
def test_an_old_event_without_a_stop_code_is_classified_by_the_exit_code(
    exit_code: int, outcome: Outcome, load_event: LoadEvent
) -> None:
    event = ran(load_event, container("report", exit_code), stopCode=None)

    assert analyse(event, None).outcome is outcome


def test_a_user_stop_with_a_reason_quotes_the_reason(load_event: LoadEvent) -> None:
    raw = with_detail(load_event("stopped-user"), stoppedReason="rerun with --full requested by on-call")

    analysis = analyse(parse_task_event(raw), None)

    assert analysis.outcome is Outcome.STOPPED_BY_USER
    assert analysis.cause == "stopped by a user: rerun with --full requested by on-call"


@pytest.mark.parametrize(
    ("stop_code", "reason", "outcome"),
    [
        ("UserInitiated", "Task stopped by user", Outcome.STOPPED_BY_USER),
        (
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/4827339571047738211)",
            Outcome.STOPPED_BY_SCHEDULER,
        ),
    ],
)
def test_a_deliberate_stop_before_the_task_started_is_that_stop_not_a_start_failure(
    stop_code: str, reason: str, outcome: Outcome, load_event: LoadEvent
) -> None:
    # StopTask (or a scale-in) on a PENDING task: no startedAt, no exit code, but the stop code says who.
    event = never_ran(load_event, reason, stop_code=stop_code)

    assert analyse(event, None).outcome is outcome


def test_the_watchdog_reason_is_a_timeout_although_the_stop_code_says_user(load_event: LoadEvent) -> None:
    raw = with_detail(load_event("stopped-timed-out"), stoppedReason="ecswatch watchdog:")

    analysis = analyse(parse_task_event(raw), None)

    assert (analysis.outcome, analysis.cause) == (
        Outcome.TIMED_OUT,
        "stopped by ecswatch: exceeded its maximum run time",
    )


@pytest.mark.parametrize("stop_code", [None, "ServiceSchedulerInitiated", "EssentialContainerExited"])
@pytest.mark.parametrize(
    "reason",
    [
        "ECS is performing maintenance on the underlying infrastructure hosting the task",
        # The docs say the reason is one *containing* this text.
        "Task stopped: ECS is performing maintenance on the underlying infrastructure hosting the task.",
    ],
)
def test_task_maintenance_is_an_infrastructure_stop(
    stop_code: str | None, reason: str, load_event: LoadEvent
) -> None:
    event = ran(load_event, container("report", 143), stopCode=stop_code, stoppedReason=reason)

    assert analyse(event, None).outcome is Outcome.INFRASTRUCTURE


@pytest.mark.parametrize(
    ("stop_code", "reason"),
    [
        ("InfrastructureHealth", ""),
        (None, "Host EC2 (instance i-0d3f5a7c9e1b24680) stopped/terminated"),
        (None, "Container instance deregistration forced by user"),
    ],
)
def test_a_lost_host_is_an_infrastructure_stop(
    stop_code: str | None, reason: str, load_event: LoadEvent
) -> None:
    event = ran(load_event, container("report", 137), stopCode=stop_code, stoppedReason=reason or None)

    assert analyse(event, None).outcome is Outcome.INFRASTRUCTURE


@pytest.mark.parametrize(
    "reason",
    [
        "Scaling activity initiated by (deployment ecs-svc/4827339571047738211)",
        "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
        "targetgroup/web/ccb1c7ee670051a0)",
    ],
)
def test_a_service_scheduler_stop_is_stopped_by_scheduler_with_its_reason_as_cause(
    reason: str, load_event: LoadEvent
) -> None:
    raw = with_detail(load_event("stopped-service-task"), stoppedReason=reason)

    analysis = analyse(parse_task_event(raw), None)

    assert (analysis.outcome, analysis.cause) == (Outcome.STOPPED_BY_SCHEDULER, reason)


# --- failures to start --------------------------------------------------------------------------------

#: (exact string from stop-reasons.md, the summary the cause starts with)
START_FAILURES = [
    (
        "CannotPullContainerError: inspect image has been retried 1 time(s): failed to resolve ref "
        '"docker.io/library/ngin:latest": pull access denied, repository does not exist or may require '
        "authorization: server message: insufficient_scope: authorization failed",
        "image pull failed",
    ),
    (
        "CannotPullContainerError: Error response from daemon: Get https://123456789012.dkr.ecr."
        "ap-northeast-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection "
        "(Client.Timeout exceeded while awaiting headers)",
        "image pull failed",
    ),
    (
        "CannotPullContainerError: API error (404): repository "
        "111122223333.dkr.ecr.us-east-1.amazonaws.com/batch/report not found",
        "image pull failed",
    ),
    (
        "CannotPullContainerError: write /var/lib/docker/tmp/GetImageBlob111111111: no space left on device",
        "image pull failed",
    ),
    (
        "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReaderSeeker: "
        "failed open: unexpected status code",
        "image pull failed",
    ),
    ("CannotPullContainerError: API error", "image pull failed"),
    ("ERROR: toomanyrequests: Too Many Requests.", "image registry rate limit"),
    (
        "CannotPullImageManifestError: failed to fetch manifest for docker.io/library/python:3.12-slim",
        "image manifest pull failed",
    ),
    (
        "ResourceInitializationError: failed to initialize logging driver: failed to create Cloudwatch "
        "log stream: ResourceNotFoundException: The specified log group does not exist.",
        "task resources could not be initialised",
    ),
    (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
        "retrieval failed: unable to retrieve secret from asm",
        "could not fetch secrets or registry credentials",
    ),
    (
        "CannotStartContainerError: failed to get container status: context deadline exceeded",
        "container could not be started",
    ),
    (
        "CannotStartContainerError: Error response from daemon: error gathering device information while "
        'adding custom device "/dev/dri/renderD130": no such file or directory',
        "container could not be started",
    ),
    (
        "ContainerRuntimeTimeoutError: Could not transition to running; timed out after waiting 1m: "
        "context deadline exceeded",
        "container runtime timed out",
    ),
    (
        "DockerTimeoutError: Could not transition to created; timed out after waiting 4m0s",
        "container runtime timed out",
    ),
    (
        "CannotCreateContainerError: API error (500): devmapper: Thin Pool has 4350 free data blocks which "
        "is less than minimum required 4454 free data blocks.",
        "container could not be created",
    ),
    ("Task failed to start", "task failed to start"),
]


@pytest.mark.parametrize(("reason", "summary"), START_FAILURES, ids=[s for _, s in START_FAILURES])
def test_each_aws_start_failure_string_is_a_failure_to_start_named_in_the_cause(
    reason: str, summary: str, load_event: LoadEvent
) -> None:
    event = never_ran(load_event, reason)

    analysis = analyse(event, None)

    assert analysis.outcome is Outcome.FAILED_TO_START
    assert analysis.cause == f"{summary}: {reason}"


def test_a_start_failure_string_is_recognised_without_the_task_failed_to_start_stop_code(
    load_event: LoadEvent,
) -> None:
    reason = "CannotStartContainerError: failed to get container status: context deadline exceeded"
    event = never_ran(load_event, reason, stop_code=None)

    assert analyse(event, None).cause.startswith("container could not be started: ")


def test_a_container_pull_error_is_named_over_the_bare_task_failed_to_start(load_event: LoadEvent) -> None:
    raw = with_detail(load_event("stopped-image-pull-failed"), stoppedReason="Task failed to start")

    analysis = analyse(parse_task_event(raw), None)

    assert analysis.outcome is Outcome.FAILED_TO_START
    assert analysis.cause.startswith("image pull failed: CannotPullContainerError: inspect image")


def test_an_unknown_reason_with_the_task_failed_to_start_code_is_still_a_start_failure(
    load_event: LoadEvent,
) -> None:
    event = never_ran(load_event, "SomethingNewError: the agent gave up")

    analysis = analyse(event, None)

    assert (analysis.outcome, analysis.cause) == (
        Outcome.FAILED_TO_START,
        "SomethingNewError: the agent gave up",
    )


def test_a_task_that_never_started_and_says_nothing_is_a_start_failure(load_event: LoadEvent) -> None:
    event = never_ran(load_event, "", stop_code=None)

    assert (analyse(event, None).outcome, analyse(event, None).cause) == (
        Outcome.FAILED_TO_START,
        "task never started",
    )


def test_a_very_long_reason_is_cut_to_one_short_line_in_the_cause(load_event: LoadEvent) -> None:
    event = never_ran(load_event, "CannotPullContainerError: " + "x" * 1000 + "\nsecond line")

    cause = analyse(event, None).cause

    assert len(cause) <= len("image pull failed: ") + 300
    # Cut in the middle: the start and the end of AWS's line, an ellipsis between.
    assert cause.startswith("image pull failed: CannotPullContainerError: xxx")
    assert " … " in cause
    assert cause.endswith("x")
    assert "second line" not in cause


# --- the deciding container ---------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True], ids=["app-first", "sidecar-first"])
@pytest.mark.parametrize(
    ("sample", "outcome"),
    [("stopped-sidecar-app-failed", Outcome.FAILED), ("stopped-sidecar-agent-failed", Outcome.SUCCEEDED)],
)
def test_an_essential_app_decides_over_an_essential_sidecar_either_way_round(
    sample: str,
    outcome: Outcome,
    reverse: bool,
    load_event: LoadEvent,
    seeded_task_definition: SeededTaskDefinition,
) -> None:
    raw = load_event(sample)
    if reverse:
        raw["detail"]["containers"].reverse()

    analysis = analyse(parse_task_event(raw), seeded_task_definition(raw))

    assert (analysis.deciding_container, analysis.outcome) == ("loader", outcome)


def test_a_non_essential_helper_that_fails_does_not_decide(load_event: LoadEvent) -> None:
    definitions = taskdef(definition("report"), definition("warm-cache", essential=False))
    event = ran(load_event, container("warm-cache", 1), container("report", 0))

    analysis = analyse(event, definitions)

    assert (analysis.deciding_container, analysis.outcome) == ("report", Outcome.SUCCEEDED)


def test_without_a_task_definition_every_non_sidecar_container_counts_as_essential(
    load_event: LoadEvent,
) -> None:
    event = ran(load_event, container("warm-cache", 1), container("report", 0))

    analysis = analyse(event, None)

    assert (analysis.deciding_container, analysis.outcome) == ("warm-cache", Outcome.FAILED)


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("datadog-agent", DATADOG_IMAGE),
        ("agent", DATADOG_IMAGE),
        ("log_router", FLUENT_BIT_IMAGE),
        ("xray", "public.ecr.aws/xray/aws-xray-daemon:3.3.7"),
        ("collector", "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"),
        ("envoy", "840364872350.dkr.ecr.eu-west-1.amazonaws.com/aws-appmesh-envoy:v1.27.3.0-prod"),
    ],
)
def test_without_a_task_definition_a_failing_sidecar_is_recognised_by_name_or_image_and_never_decides(
    name: str, image: str, load_event: LoadEvent
) -> None:
    event = ran(load_event, container(name, 1, image=image), container("report", 0))

    analysis = analyse(event, None)

    assert (analysis.deciding_container, analysis.outcome) == ("report", Outcome.SUCCEEDED)


def test_a_firelens_router_never_decides_even_with_a_name_and_image_nobody_would_recognise(
    load_event: LoadEvent,
) -> None:
    shipper_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shipper:2.1"
    definitions = taskdef(
        definition("shipper", image=shipper_image, firelensConfiguration={"type": "fluentbit"}),
        definition("report"),
    )
    event = ran(load_event, container("shipper", 1, image=shipper_image), container("report", 0))

    analysis = analyse(event, definitions)

    assert (analysis.deciding_container, analysis.outcome) == ("report", Outcome.SUCCEEDED)


def test_when_every_container_is_a_sidecar_the_failing_one_still_decides(load_event: LoadEvent) -> None:
    event = ran(
        load_event,
        container("log_router", 0, image=FLUENT_BIT_IMAGE),
        container("datadog-agent", 1, image=DATADOG_IMAGE),
    )

    analysis = analyse(event, None)

    assert (analysis.deciding_container, analysis.outcome) == ("datadog-agent", Outcome.FAILED)


def test_when_only_sidecars_are_essential_a_non_essential_app_decides(load_event: LoadEvent) -> None:
    definitions = taskdef(
        definition("datadog-agent", image=DATADOG_IMAGE), definition("report", essential=False)
    )
    event = ran(load_event, container("datadog-agent", 1, image=DATADOG_IMAGE), container("report", 0))

    analysis = analyse(event, definitions)

    assert (analysis.deciding_container, analysis.outcome) == ("report", Outcome.SUCCEEDED)


@pytest.mark.parametrize("reverse", [False, True], ids=["failing-last", "failing-first"])
def test_of_two_essential_apps_the_failing_one_decides(reverse: bool, load_event: LoadEvent) -> None:
    containers = [container("extract", 0), container("load", 4)]
    if reverse:
        containers.reverse()
    event = ran(load_event, *containers)

    analysis = analyse(event, taskdef(definition("extract"), definition("load")))

    assert (analysis.deciding_container, analysis.exit_code, analysis.outcome) == ("load", 4, Outcome.FAILED)


def test_an_oom_killed_app_decides_over_another_app_that_failed(load_event: LoadEvent) -> None:
    event = ran(load_event, container("extract", 1), container("load", 137, OOM_REASON))

    analysis = analyse(event, None)

    assert (analysis.deciding_container, analysis.outcome) == ("load", Outcome.OUT_OF_MEMORY)


def test_a_task_without_containers_has_no_deciding_container_and_fails_with_the_task_reason(
    load_event: LoadEvent,
) -> None:
    raw = load_event("stopped-success")
    raw["detail"]["containers"] = []

    analysis = analyse(parse_task_event(raw), None)

    assert (analysis.deciding_container, analysis.exit_code, analysis.outcome, analysis.cause) == (
        None,
        None,
        Outcome.FAILED,
        "Essential container in task exited",
    )


# --- outcomes -----------------------------------------------------------------------------------------

#: outcome -> (severity, label): the words Datadog's alert_type, Slack colours and headlines use.
OUTCOME_PRESENTATION = {
    Outcome.SUCCEEDED: ("success", "succeeded"),
    Outcome.FAILED: ("error", "failed"),
    Outcome.OUT_OF_MEMORY: ("error", "out of memory"),
    Outcome.FAILED_TO_START: ("error", "failed to start"),
    Outcome.TIMED_OUT: ("error", "timed out"),
    Outcome.INFRASTRUCTURE: ("error", "stopped by infrastructure"),
    Outcome.SPOT_INTERRUPTED: ("warning", "spot interrupted"),
    Outcome.STOPPED_BY_USER: ("warning", "stopped by a user"),
    Outcome.STOPPED_BY_SCHEDULER: ("warning", "stopped by the service scheduler"),
}


def test_every_outcome_has_a_severity_and_label() -> None:
    assert set(OUTCOME_PRESENTATION) == set(Outcome)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_each_outcome_has_its_severity_and_label(outcome: Outcome) -> None:
    assert (outcome.severity, outcome.label) == OUTCOME_PRESENTATION[outcome]


@pytest.mark.parametrize("outcome", list(Outcome))
def test_only_success_is_not_a_failure(outcome: Outcome) -> None:
    assert outcome.is_failure is (outcome is not Outcome.SUCCEEDED)
