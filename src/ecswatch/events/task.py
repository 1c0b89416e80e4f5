"""Typed, read-only views of the ECS events ecswatch consumes.

Everything downstream (analysis, links, notifications) works on these frozen
dataclasses, never on raw dicts, so the quirks of what AWS really sends are
handled once, here:

* ``exitCode`` is absent for containers that never ran or whose agent failed;
* timestamps carry 0-3 fractional digits and are not monotonic across fields;
* ``cpu``/``memory`` are strings; ``detail.version`` orders events of one task;
* old task ARNs (``task/<id>``) carry no cluster name, new ones
  (``task/<cluster>/<id>``) do.

A raw event that cannot be understood raises :class:`MalformedEvent` with a
message naming the field, so the caller can report that one message and carry
on with the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from ecswatch.events.vocabulary import (
    AWS_ACCOUNT,
    AWS_PARTITION,
    AWS_REGION,
    ECS_SOURCE,
    EXIT_CODE_RANGE,
    TASK_STATE_CHANGE,
)


class MalformedEvent(ValueError):
    """The event is not a task state change we can read; the message says which field is wrong."""


class Arn(msgspec.Struct, frozen=True):
    """The parts of an ARN that links and lookups need."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, value: str) -> Arn:
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise MalformedEvent(f"not an ARN: {value!r}")
        arn = cls(parts[1], parts[2], parts[3], parts[4], parts[5])
        require_aws_parts(partition=arn.partition, region=arn.region, account=arn.account)
        return arn


def require_aws_parts(*, region: str, account: str, partition: str = "aws") -> None:
    """Raise MalformedEvent unless partition, region and account have AWS's own formats.

    Region and account become console hosts and paths, so a forged ``evil.example/x#`` must be
    refused before any URL is built from it; the message is then reported, not alerted with links.
    """
    for name, value, form in (
        ("partition", partition, AWS_PARTITION),
        ("region", region, AWS_REGION),
        ("account", account, AWS_ACCOUNT),
    ):
        if not form.fullmatch(value):
            raise MalformedEvent(f"{value[:64]!r} is not an AWS {name}: no link is built from it")


class TaskRef(msgspec.Struct, frozen=True):
    """Where a task lives. ``cluster`` is empty for old-format ARNs until filled from clusterArn."""

    arn: str
    task_id: str
    cluster: str
    region: str
    account: str

    @classmethod
    def from_arns(cls, task_arn: str, cluster_arn: str | None) -> TaskRef:
        arn = Arn.parse(task_arn)
        pieces = arn.resource.split("/")
        if pieces[0] != "task" or len(pieces) not in (2, 3) or not pieces[-1]:
            raise MalformedEvent(f"not a task ARN: {task_arn!r}")
        cluster = pieces[1] if len(pieces) == 3 else ""
        if cluster_arn:
            cluster = Arn.parse(cluster_arn).resource.split("/", 1)[-1]
        return cls(arn=task_arn, task_id=pieces[-1], cluster=cluster, region=arn.region, account=arn.account)


class TaskDefinitionRef(msgspec.Struct, frozen=True):
    arn: str
    family: str
    revision: int

    @classmethod
    def parse(cls, value: str) -> TaskDefinitionRef:
        resource = Arn.parse(value).resource
        kind, _, family_rev = resource.partition("/")
        family, sep, revision = family_rev.rpartition(":")
        if kind != "task-definition" or not sep or not revision.isdigit():
            raise MalformedEvent(f"not a task definition ARN: {value!r}")
        return cls(arn=value, family=family, revision=int(revision))

    @property
    def family_revision(self) -> str:
        return f"{self.family}:{self.revision}"


class Container(msgspec.Struct, frozen=True):
    name: str
    last_status: str
    exit_code: int | None
    reason: str | None
    image: str | None
    runtime_id: str | None

    @property
    def exited(self) -> bool:
        return self.exit_code is not None


class Timeline(msgspec.Struct, frozen=True):
    """Task lifecycle timestamps; any may be missing (a task that never started has no startedAt)."""

    created: datetime | None = None
    pull_started: datetime | None = None
    pull_stopped: datetime | None = None
    started: datetime | None = None
    stopping: datetime | None = None
    execution_stopped: datetime | None = None
    stopped: datetime | None = None


class ContainerOverride(msgspec.Struct, frozen=True):
    name: str
    command: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()


class TaskEvent(msgspec.Struct, frozen=True):
    """One ``ECS Task State Change`` event, read once and typed.

    ``raw_overrides`` is the event's ``overrides`` as AWS sent it (a retry sends them again); being a
    mapping, it makes the event unhashable, and nothing needs to hash one."""

    event_id: str
    event_time: datetime | None
    task: TaskRef
    task_definition: TaskDefinitionRef
    last_status: str
    desired_status: str
    version: int
    group: str | None
    started_by: str | None
    launch_type: str | None
    capacity_provider: str | None
    platform_version: str | None
    availability_zone: str | None
    cpu: str | None
    memory: str | None
    stop_code: str | None
    stopped_reason: str | None
    containers: tuple[Container, ...]
    timeline: Timeline
    overrides: tuple[ContainerOverride, ...]
    raw_overrides: Mapping[str, Any] = msgspec.field(default_factory=dict)

    @property
    def is_stopped(self) -> bool:
        """Only ``lastStatus == STOPPED`` is the stop; RUNNING/DEPROVISIONING events carry stopCode too."""
        return self.last_status == "STOPPED"

    @property
    def is_running(self) -> bool:
        return self.last_status == "RUNNING" and self.desired_status == "RUNNING"

    @property
    def is_service_task(self) -> bool:
        return (self.group or "").startswith("service:")

    @property
    def dedupe_key(self) -> str:
        """Identity of one state of one task: duplicates of it are the same news."""
        return f"{self.task.arn}#{self.last_status}"

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


def event_kind(raw: Mapping[str, Any]) -> str:
    """Say what a raw EventBridge event is, without parsing it fully."""
    return f"{raw.get('source', '?')}/{raw.get('detail-type', '?')}"


def is_task_state_change(raw: Mapping[str, Any]) -> bool:
    return raw.get("source") == ECS_SOURCE and raw.get("detail-type") == TASK_STATE_CHANGE


def parse_task_event(raw: Mapping[str, Any]) -> TaskEvent:
    """Build a :class:`TaskEvent` from an EventBridge event, or raise :class:`MalformedEvent`."""
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not a JSON object")
    if not is_task_state_change(raw):
        raise MalformedEvent(f"not an ECS Task State Change event: {event_kind(raw)}")
    detail = raw.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEvent("detail is missing or not an object")
    overrides = _mapping(detail.get("overrides"))
    return TaskEvent(
        event_id=optional_str(raw.get("id")) or "",
        event_time=_timestamp(raw, "time"),
        task=TaskRef.from_arns(required_str(detail, "taskArn"), optional_str(detail.get("clusterArn"))),
        task_definition=TaskDefinitionRef.parse(required_str(detail, "taskDefinitionArn")),
        last_status=required_str(detail, "lastStatus"),
        desired_status=optional_str(detail.get("desiredStatus")) or "",
        version=_version(detail.get("version")),
        group=optional_str(detail.get("group")),
        started_by=optional_str(detail.get("startedBy")),
        launch_type=optional_str(detail.get("launchType")),
        capacity_provider=optional_str(detail.get("capacityProviderName")),
        platform_version=optional_str(detail.get("platformVersion")),
        availability_zone=optional_str(detail.get("availabilityZone")),
        cpu=optional_str(detail.get("cpu")),
        memory=optional_str(detail.get("memory")),
        stop_code=optional_str(detail.get("stopCode")),
        stopped_reason=optional_str(detail.get("stoppedReason")),
        containers=tuple(
            # A null entry says nothing about a container: skip it and read the rest of the event.
            _container(c, i)
            for i, c in enumerate(_list(detail.get("containers"), "containers"))
            if c is not None
        ),
        timeline=Timeline(
            created=_timestamp(detail, "createdAt"),
            pull_started=_timestamp(detail, "pullStartedAt"),
            pull_stopped=_timestamp(detail, "pullStoppedAt"),
            started=_timestamp(detail, "startedAt"),
            stopping=_timestamp(detail, "stoppingAt"),
            execution_stopped=_timestamp(detail, "executionStoppedAt"),
            stopped=_timestamp(detail, "stoppedAt"),
        ),
        overrides=tuple(
            _override(o) for o in _list(overrides.get("containerOverrides"), "overrides.containerOverrides")
        ),
        raw_overrides=overrides,
    )


def parse_timestamp(value: object) -> datetime | None:
    """ECS timestamps: ISO 8601 with 'Z' and 0-3 (sometimes more) fractional digits."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"timestamp is not a string: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise MalformedEvent(f"unreadable timestamp {value!r}") from e
    if parsed.tzinfo is None:
        raise MalformedEvent(f"timestamp without a time zone: {value!r}")
    return parsed


def _timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    try:
        return parse_timestamp(data.get(key))
    except MalformedEvent as e:
        raise MalformedEvent(f"{key}: {e}") from e


def _container(raw: object, index: int) -> Container:
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"containers[{index}] is not an object")
    exit_code = raw.get("exitCode")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise MalformedEvent(f"containers[{index}].exitCode is not an integer: {exit_code!r}")
    reason = optional_str(raw.get("reason"))
    if exit_code is not None and exit_code not in EXIT_CODE_RANGE:
        # Shown as unknown, with the raw text, rather than a number that breaks arithmetic later.
        note = f"exit code {_cut_number(exit_code)} is not a 32-bit exit code; shown as unknown"
        exit_code, reason = None, f"{note}; {reason}" if reason else note
    return Container(
        name=required_str(raw, "name", f"containers[{index}]."),
        last_status=optional_str(raw.get("lastStatus")) or "",
        exit_code=exit_code,
        reason=reason,
        image=optional_str(raw.get("image")),
        runtime_id=optional_str(raw.get("runtimeId")),
    )


def _cut_number(value: int) -> str:
    """Up to 20 digits of an integer of any size (str() of a huge int is slow and may be refused)."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits = len(str(magnitude)) if magnitude.bit_length() < 10_000 else None
    if digits is None:
        return f"{sign}(a {magnitude.bit_length()}-bit number)"
    text = str(magnitude)
    return sign + (text if digits <= 20 else text[:20] + f"… ({digits} digits)")


def _override(raw: object) -> ContainerOverride:
    data = _mapping(raw)
    command = data.get("command")
    env = data.get("environment") or []
    return ContainerOverride(
        name=optional_str(data.get("name")) or "",
        command=tuple(str(c) for c in command) if isinstance(command, list) else None,
        environment=tuple(
            (str(e.get("name", "")), str(e.get("value", ""))) for e in env if isinstance(e, Mapping)
        ),
    )


def _version(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEvent(f"detail.version is not an integer: {value!r}")
    return value


def required_str(data: Mapping[str, Any], key: str, where: str = "detail.") -> str:
    """A non-empty string field, or MalformedEvent naming where it is missing (every event reader's)."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{where}{key} is missing")
    return value


def optional_str(value: object) -> str | None:
    """Absent stays None; AWS sometimes sends numbers where strings are documented, kept as text."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEvent(f"{name} is not a list")
    return value
