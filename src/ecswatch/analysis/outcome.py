"""Why a task stopped and how long each phase took: pure functions of one event.

The classifier is built from the exact strings AWS emits (see
``shared/aws-samples/stop-reasons.md``), not from exit codes alone:

* ``EssentialContainerExited`` says nothing about success; exit 0 and exit 2
  both carry it, so the deciding container's exit code decides.
* Exit 137 is usually SIGKILL after a stop timeout, not OOM; OOM is the
  container reason ``OutOfMemoryError: ...`` (seen with 137, 0 and no exit code).
* Several events carry ``stopCode`` for one stop; only ``lastStatus == STOPPED``
  is analysed as the end of a run (the caller decides that).
* A sidecar (a monitoring agent, a log router, a collector, a mesh proxy, a secrets agent; or a
  container the job's ``sidecars`` names) never decides the outcome, even when it is marked
  essential.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime

import msgspec

from ecswatch.events.task import Container, TaskEvent, Timeline
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.events.text import cut_middle
from ecswatch.events.vocabulary import WATCHDOG_STOP_REASON_PREFIX
from ecswatch.run import Outcome, PhaseDurations


class Classification(msgspec.Struct, frozen=True):
    outcome: Outcome
    cause: str


class Analysis(msgspec.Struct, frozen=True):
    outcome: Outcome
    cause: str
    deciding_container: str | None
    exit_code: int | None
    durations: PhaseDurations


def analyse(event: TaskEvent, taskdef: TaskDefinition | None, *, sidecars: Collection[str] = ()) -> Analysis:
    """The whole verdict on a stopped task: who decided it, what it was, how long it took.
    ``sidecars`` are the container names the job's config calls its own sidecars."""
    decider = deciding_container(event, taskdef, sidecars=sidecars)
    verdict = classify(event, decider)
    return Analysis(
        outcome=verdict.outcome,
        cause=verdict.cause,
        deciding_container=decider.name if decider else None,
        exit_code=decider.exit_code if decider else None,
        durations=phase_durations(event.timeline),
    )


# --------------------------------------------------------------------------- durations


def phase_durations(t: Timeline) -> PhaseDurations:
    """Fargate's hidden cost is start latency (created -> started); make every phase visible.

    ``executionStoppedAt`` is sometimes *earlier* than ``startedAt`` in real events;
    run time then falls back to ``stoppingAt``, the latest moment the app could have run.
    """
    run_time = _seconds(t.started, t.execution_stopped)
    if run_time is None:
        run_time = _seconds(t.started, t.stopping)
    return PhaseDurations(
        provisioning=_seconds(t.created, t.pull_started),
        image_pull=_seconds(t.pull_started, t.pull_stopped),
        start_latency=_seconds(t.created, t.started),
        run_time=run_time,
        stopping=_seconds(t.stopping, t.stopped),
        total=_seconds(t.created, t.stopped),
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    delta = (end - start).total_seconds()
    return round(delta, 3) if delta >= 0 else None


# --------------------------------------------------------------------------- deciding container

#: Images and names of containers that support the job rather than do it, as their vendors publish
#: them (the image's registry and tag do not matter: the pattern is searched for anywhere in it).
_SIDECAR_PATTERNS = re.compile(
    # Datadog: datadog/agent, public.ecr.aws/datadog/agent, gcr.io/datadoghq/agent
    r"datadog/agent|datadoghq/agent|/datadog-agent|^datadog-agent$|dd-agent"
    # Sysdig: quay.io/sysdig/workload-agent (Fargate), sysdig/agent, quay.io/sysdig/orchestrator-agent
    r"|sysdig/(?:agent|workload-agent|orchestrator-agent)|^sysdig(?:-agent)?$"
    # Fluent Bit / FireLens / Fluentd: public.ecr.aws/aws-observability/aws-for-fluent-bit, fluent/fluent-bit
    r"|aws-for-fluent-bit|fluent-bit|fluentbit|fluentd|log[_-]?router|firelens"
    # X-Ray and OpenTelemetry: amazon/aws-xray-daemon, public.ecr.aws/aws-observability/aws-otel-collector,
    # otel/opentelemetry-collector-contrib
    r"|xray-daemon|aws-xray|x-ray|aws-otel-collector|otel-collector|opentelemetry-collector|adot"
    # CloudWatch agent: amazon/cloudwatch-agent, public.ecr.aws/cloudwatch-agent/cloudwatch-agent
    r"|cloudwatch-agent|^cwagent$|ecs-service-connect-agent"
    # New Relic: newrelic/nri-ecs, newrelic/infrastructure(-bundle); its container is newrelic-infra
    r"|newrelic/(?:nri-ecs|infrastructure)|^newrelic-infra$|^nri-ecs$"
    # Splunk: quay.io/signalfx/splunk-otel-collector, splunk/fluentd-hec
    r"|splunk-otel-collector|splunk/fluentd-hec"
    # Mesh proxies: public.ecr.aws/appmesh/aws-appmesh-envoy, envoyproxy/envoy, istio/proxyv2
    r"|appmesh-envoy|envoyproxy/envoy|^envoy$|aws-appmesh|istio/proxyv2|^istio-proxy$"
    # Vault agent: hashicorp/vault run as an agent next to the app
    r"|hashicorp/vault|^vault-agent$",
    re.IGNORECASE,
)


def is_sidecar(
    name: str, image: str | None, *, firelens_router: bool = False, named: Collection[str] = ()
) -> bool:
    """A known agent by its name or image, FireLens's router, or a container the job names."""
    if firelens_router or name in named:
        return True
    return bool(_SIDECAR_PATTERNS.search(name) or (image and _SIDECAR_PATTERNS.search(image)))


def deciding_container(
    event: TaskEvent, taskdef: TaskDefinition | None, *, sidecars: Collection[str] = ()
) -> Container | None:
    """The container whose fate is the task's: an essential, non-sidecar container.

    Without a task definition (deleted, unreadable) every container counts as
    essential. Among candidates a failing one wins, OOM first, so a job with two
    essential containers reports the one that broke.
    """
    candidates = _candidates(event.containers, taskdef, sidecars)
    if not candidates:
        return None
    for predicate in (_is_oom, _failed):
        chosen = next((c for c in candidates if predicate(c)), None)
        if chosen:
            return chosen
    return candidates[0]


def _candidates(
    containers: Sequence[Container], taskdef: TaskDefinition | None, named: Collection[str]
) -> list[Container]:
    essential = list(containers)
    if taskdef is not None:
        names = set(taskdef.essential_names)
        essential = [c for c in containers if c.name in names] or list(containers)

    def sidecar(c: Container) -> bool:
        definition = taskdef.container(c.name) if taskdef else None
        router = bool(definition and definition.is_firelens_router)
        return is_sidecar(c.name, c.image, firelens_router=router, named=named)

    apps = [c for c in essential if not sidecar(c)]
    if apps:
        return apps
    # Every essential container looks like a sidecar: prefer non-sidecars among the rest, then anything.
    return [c for c in containers if not sidecar(c)] or essential


def _is_oom(c: Container) -> bool:
    return bool(c.reason and c.reason.startswith("OutOfMemoryError"))


def _failed(c: Container) -> bool:
    return (c.exit_code is not None and c.exit_code != 0) or (c.exit_code is None and bool(c.reason))


# --------------------------------------------------------------------------- classification

_SPOT_STOP_CODES = frozenset({"SpotInterruption", "TerminationNotice"})

#: Error names the ECS/Fargate agent uses when a task or container cannot start.
_START_FAILURES: tuple[tuple[str, str], ...] = (
    ("CannotPullContainerAuthError", "image pull not authorised"),
    ("CannotPullECRContainerError", "image pull from ECR failed"),
    ("CannotPullImageManifestError", "image manifest pull failed"),
    ("CannotPullContainerError", "image pull failed"),
    ("toomanyrequests", "image registry rate limit"),
    ("unable to pull secrets or registry auth", "could not fetch secrets or registry credentials"),
    ("ResourceInitializationError", "task resources could not be initialised"),
    ("CannotCreateContainerError", "container could not be created"),
    ("CannotStartContainerError", "container could not be started"),
    ("ContainerRuntimeTimeoutError", "container runtime timed out"),
    ("DockerTimeoutError", "container runtime timed out"),
    ("CannotCreateVolumeError", "volume could not be created"),
    ("Timeout waiting for network interface provisioning", "network interface (ENI) not provisioned"),
    ("Task failed to start", "task failed to start"),
)

_INFRASTRUCTURE_REASONS = (
    "ECS is performing maintenance on the underlying infrastructure",
    "Container instance deregistration forced by user",
    "stopped/terminated",
    "Host EC2",
)

_SIGNALS = {129: "SIGHUP", 130: "SIGINT", 134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV", 143: "SIGTERM"}


def classify(event: TaskEvent, decider: Container | None) -> Classification:
    """Outcome and a one-line cause a person understands. Order matters: the most specific fact wins."""
    reason = event.stopped_reason or ""
    for rule in (_spot, _watchdog, _out_of_memory, _start_failure, _user, _infrastructure, _scheduler):
        verdict = rule(event, decider, reason)
        if verdict is not None:
            return verdict
    return _by_exit_code(event, decider, reason)


def _spot(event: TaskEvent, _decider: Container | None, reason: str) -> Classification | None:
    if event.stop_code in _SPOT_STOP_CODES or "Spot Task was interrupted" in reason:
        return Classification(Outcome.SPOT_INTERRUPTED, "Fargate Spot capacity was reclaimed")
    return None


def _watchdog(_event: TaskEvent, _decider: Container | None, reason: str) -> Classification | None:
    if reason.startswith(WATCHDOG_STOP_REASON_PREFIX):
        detail = reason[len(WATCHDOG_STOP_REASON_PREFIX) :].strip() or "exceeded its maximum run time"
        return Classification(Outcome.TIMED_OUT, f"stopped by ecswatch: {detail}")
    return None


def _out_of_memory(event: TaskEvent, decider: Container | None, reason: str) -> Classification | None:
    oom = decider if decider and _is_oom(decider) else None
    if oom is None and "OutOfMemoryError" in reason:
        return Classification(Outcome.OUT_OF_MEMORY, _limit_note("task ran out of memory", event))
    if oom is None:
        return None
    return Classification(
        Outcome.OUT_OF_MEMORY, _limit_note(f"container '{oom.name}' was killed for memory", event)
    )


def _limit_note(text: str, event: TaskEvent) -> str:
    return f"{text} (task memory {event.memory} MiB)" if event.memory else text


def _start_failure(event: TaskEvent, decider: Container | None, reason: str) -> Classification | None:
    texts = [reason, *(c.reason or "" for c in event.containers)]
    for needle, summary in _START_FAILURES:
        hit = next((t for t in texts if needle in t), None)
        if hit is not None:
            return Classification(Outcome.FAILED_TO_START, f"{summary}: {_first_line(hit)}")
    if event.stop_code == "TaskFailedToStart" or _never_started(event):
        return Classification(Outcome.FAILED_TO_START, _first_line(reason) or "task never started")
    return None


#: Someone chose to stop the task; stopping it before it started is not a failure to start.
_DELIBERATE_STOP_CODES = frozenset({"UserInitiated", "ServiceSchedulerInitiated"})


def _never_started(event: TaskEvent) -> bool:
    """Inferred from missing facts, so an explicit stop code that says who stopped the task wins."""
    return (
        event.timeline.started is None
        and not _any_exited(event)
        and event.stop_code not in _DELIBERATE_STOP_CODES
    )


def _user(event: TaskEvent, _decider: Container | None, reason: str) -> Classification | None:
    if event.stop_code != "UserInitiated" and reason != "Task stopped by user":
        return None
    if reason and reason != "Task stopped by user":
        return Classification(Outcome.STOPPED_BY_USER, f"stopped by a user: {_first_line(reason)}")
    return Classification(Outcome.STOPPED_BY_USER, "stopped by a user (StopTask)")


def _infrastructure(event: TaskEvent, _decider: Container | None, reason: str) -> Classification | None:
    if event.stop_code == "InfrastructureHealth" or any(r in reason for r in _INFRASTRUCTURE_REASONS):
        return Classification(Outcome.INFRASTRUCTURE, _first_line(reason) or "infrastructure health")
    return None


def _scheduler(event: TaskEvent, _decider: Container | None, reason: str) -> Classification | None:
    if event.stop_code == "ServiceSchedulerInitiated":
        return Classification(Outcome.STOPPED_BY_SCHEDULER, _first_line(reason) or "service scheduler")
    return None


#: A scheduler stop whose reason says the task was unhealthy ("Task failed ELB health checks in
#: (target-group ...)", "Task failed container health checks"): there is no stopCode of its own.
_HEALTH_CHECK_KILL = re.compile(r"failed .*health checks?", re.IGNORECASE)


def is_routine_scheduler_stop(event: TaskEvent, exit_code: int | None) -> bool:
    """The service scheduler stopped a healthy task that exited cleanly: a deployment's scale-in or
    replacement, the service doing its job. Not news; a health-check kill or a non-zero exit is.

    ``exit_code`` is the deciding container's; None (stopped before it exited) counts as clean.
    """
    if event.stop_code != "ServiceSchedulerInitiated":
        return False
    if _HEALTH_CHECK_KILL.search(event.stopped_reason or ""):
        return False
    return exit_code in (None, 0)


def _by_exit_code(event: TaskEvent, decider: Container | None, reason: str) -> Classification:
    if decider is None:
        return Classification(
            Outcome.FAILED, _first_line(reason) or "task stopped with no containers reported"
        )
    code = decider.exit_code
    if code == 0:
        return Classification(Outcome.SUCCEEDED, f"container '{decider.name}' exited 0")
    if code is None:
        why = decider.reason or reason or "no exit code reported"
        return Classification(Outcome.FAILED, f"container '{decider.name}' stopped: {_first_line(why)}")
    signal = f" ({_SIGNALS[code]})" if code in _SIGNALS else ""
    extra = f": {_first_line(decider.reason)}" if decider.reason else ""
    return Classification(Outcome.FAILED, f"container '{decider.name}' exited {code}{signal}{extra}")


def _any_exited(event: TaskEvent) -> bool:
    return any(c.exited for c in event.containers)


def _first_line(text: str | None, limit: int = 300) -> str:
    """The first line, cut in the middle when long: AWS's advice at its end survives."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return cut_middle(line, limit)
