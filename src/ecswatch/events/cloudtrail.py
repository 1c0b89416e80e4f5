"""Launch attempts: RunTask calls that an EventBridge rule or schedule made, read from CloudTrail.

When a scheduled RunTask fails there is no task, so no ``ECS Task State Change`` ever
arrives and the run silently does not happen (aws/containers-roadmap#1705 asks AWS to
emit one; it does not). The only trace is the CloudTrail record of the call, which
EventBridge delivers with ``source: aws.ecs`` and ``detail-type: AWS API Call via
CloudTrail``, the whole record as ``detail``. This module reads that record once into a
:class:`LaunchAttempt` and says what went wrong, who launched it and whether to retry.

What the record looks like, and the quirks handled here:

* A call can fail two ways. ECS refuses it (``errorCode``/``errorMessage``, and
  ``responseElements`` is ``null``), or ECS accepts it but cannot place every task:
  ``responseElements.failures[]`` holds ``{arn, reason, detail}`` next to the ``tasks``
  it did start. A ``count`` > 1 call can therefore start some tasks and fail others; it
  is a failed launch all the same, and the cause says how many started.
* ``requestParameters`` is what the caller sent, so anything the caller left out is
  ECS's default: cluster ``default``, group ``family:<family>``, count 1.
* ``taskDefinition`` may be an ARN, ``family:revision`` or a bare family (the latest
  ACTIVE revision). A bare family stays a string: its revision is not known.
* ``requestParameters`` can be ``null``: CloudTrail records some refusals that way (IAM
  said no before the service read the request). The fields it would hold are then
  unknown (None), and the family is taken from the task definition ARN that the error
  message names, if it names one.
* EventBridge rules start tasks with ``startedBy: events-rule/<rule>`` and EventBridge
  Scheduler with ``chronos-schedule/<schedule>``. Scheduler's values are seen cut at 36
  characters, the startedBy limit ECS documents, so a 36-character value may hold only
  part of the name (rule names are assumed to be cut the same way).
* ``userIdentity.invokedBy`` names the service that made the call for the caller
  (``events.amazonaws.com``, ``scheduler.amazonaws.com``); ``sourceIPAddress`` holds the
  same service name when an AWS service made the call.

Retrying: a launch failure is retryable by default. Only failures that the same request
will meet again are not: the caller may not do it (access denied, account blocked) or the
request is wrong (invalid parameter, unknown cluster or platform). Capacity, throttling,
AWS-side errors and anything not recognised are retried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import quote

import msgspec

from ecswatch.events.task import (
    Arn,
    MalformedEvent,
    TaskDefinitionRef,
    event_kind,
    optional_str,
    parse_timestamp,
    require_aws_parts,
    required_str,
)
from ecswatch.events.text import cut_middle
from ecswatch.events.vocabulary import (
    API_CALL_VIA_CLOUDTRAIL,
    CHAIN_PREFIX,
    DEFAULT_CLUSTER,
    ECS_EVENT_SOURCE,
    ECS_SOURCE,
    EVENTS_SERVICE,
    RETRY_PREFIX,
    RULE_PREFIX,
    RUN_TASK,
    SCHEDULE_PREFIX,
    SCHEDULER_SERVICE,
    STARTED_BY_LIMIT,
    console_base,
)

#: A cause is one line; longer AWS messages are cut here.
CAUSE_LIMIT = 400

_FARGATE_CAPACITY = "Capacity is unavailable at this time"
_OTHER_RESOURCE = "a resource the task needs is free on no container instance"
_TASK_DEFINITION_IN_MESSAGE = re.compile(r"\bon resource: (arn:[^\s,;]+:task-definition/[^\s,;]+)")
_THROTTLED_MESSAGE = re.compile(r"Rate exceeded|ErrorCode: Throttling|RequestLimitExceeded")


class LaunchFailureKind(StrEnum):
    CAPACITY = "capacity"
    PLACEMENT = "placement"
    THROTTLED = "throttled"
    SERVICE = "service"
    NOT_ALLOWED = "not_allowed"
    INVALID = "invalid"
    UNKNOWN = "unknown"


#: How each kind starts its cause line.
_LABELS = {
    LaunchFailureKind.CAPACITY: "no capacity",
    LaunchFailureKind.PLACEMENT: "cannot place the task",
    LaunchFailureKind.THROTTLED: "throttled",
    LaunchFailureKind.SERVICE: "AWS error",
    LaunchFailureKind.NOT_ALLOWED: "not allowed",
    LaunchFailureKind.INVALID: "invalid request",
    LaunchFailureKind.UNKNOWN: "launch failed",
}

#: The same request meets these again, so retrying only repeats the failure.
_NOT_RETRYABLE = frozenset({LaunchFailureKind.NOT_ALLOWED, LaunchFailureKind.INVALID})

#: RunTask's documented errors (and IAM's own code, which CloudTrail records for some refusals).
_ERROR_KINDS = {
    "AccessDenied": LaunchFailureKind.NOT_ALLOWED,
    "AccessDeniedException": LaunchFailureKind.NOT_ALLOWED,
    "BlockedException": LaunchFailureKind.NOT_ALLOWED,
    "InvalidParameterException": LaunchFailureKind.INVALID,
    "ClientException": LaunchFailureKind.INVALID,
    "ClusterNotFoundException": LaunchFailureKind.INVALID,
    "PlatformUnknownException": LaunchFailureKind.INVALID,
    "PlatformTaskDefinitionIncompatibilityException": LaunchFailureKind.INVALID,
    "UnsupportedFeatureException": LaunchFailureKind.INVALID,
    "ThrottlingException": LaunchFailureKind.THROTTLED,
    "Throttling": LaunchFailureKind.THROTTLED,
    "RequestLimitExceeded": LaunchFailureKind.THROTTLED,
    "ServerException": LaunchFailureKind.SERVICE,
    "InternalFailure": LaunchFailureKind.SERVICE,
    "ServiceUnavailable": LaunchFailureKind.SERVICE,
}

#: ``failures[].reason`` values of RunTask (ECS developer guide, "API failure reasons").
#: A RESOURCE:* reason means no instance has room now; the others depend on which container
#: instances the cluster has, which changes as it scales, so they are retried too.
_PLACEMENT_REASONS = {
    "RESOURCE:CPU": (LaunchFailureKind.CAPACITY, "no container instance has enough CPU free"),
    "RESOURCE:MEMORY": (LaunchFailureKind.CAPACITY, "no container instance has enough memory free"),
    "RESOURCE:PORTS": (LaunchFailureKind.CAPACITY, "the host ports it needs are taken on every instance"),
    "RESOURCE:ENI": (LaunchFailureKind.CAPACITY, "no container instance has a free network interface"),
    "RESOURCE:GPU": (LaunchFailureKind.CAPACITY, "no container instance has enough GPUs free"),
    "RESOURCE:FARGATE": (LaunchFailureKind.CAPACITY, "Fargate has no capacity for the task"),
    "AGENT": (LaunchFailureKind.PLACEMENT, "the container instance's ECS agent is disconnected"),
    "LOCATION": (
        LaunchFailureKind.PLACEMENT,
        "the container instance is in another Availability Zone than the task's subnets",
    ),
    "ATTRIBUTE": (LaunchFailureKind.PLACEMENT, "no container instance has an attribute the task requires"),
    "MISSING": (LaunchFailureKind.PLACEMENT, "the container instance does not exist"),
    "INACTIVE": (LaunchFailureKind.PLACEMENT, "the container instance was deregistered"),
}


class PlacementFailure(NamedTuple):
    """One ``responseElements.failures[]`` entry; every field is optional in the API."""

    arn: str | None
    reason: str | None
    detail: str | None


class LaunchAttempt(msgspec.Struct, frozen=True):
    """One RunTask call, read once and typed.

    ``cluster``, ``started_by``, ``group``, ``launch_type`` and ``count`` come from the
    request. When CloudTrail did not record it (``request_recorded`` is False) they are
    None (count 0), because they are unknown, not absent.
    """

    event_id: str
    event_time: datetime
    region: str
    account: str
    cluster: str | None
    task_definition: TaskDefinitionRef | str | None
    family: str | None
    started_by: str | None
    group: str | None
    launch_type: str | None
    capacity_providers: tuple[str, ...]
    count: int
    invoked_by: str | None
    caller_arn: str | None
    error_code: str | None
    error_message: str | None
    failures: tuple[PlacementFailure, ...]
    task_arns: tuple[str, ...]
    request_recorded: bool = True
    #: ``requestParameters`` as recorded (camelCase, RunTask's own shape): a retry sends it again.
    request: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        """Every field but ``request``: what the caller sent (environment overrides may hold secrets)."""
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name != "request"
        )
        return f"LaunchAttempt({shown})"

    @property
    def failed(self) -> bool:
        """Any failure fails the launch, even when some of a ``count`` > 1 call's tasks started."""
        return bool(self.error_code) or bool(self.failures)

    @property
    def started(self) -> int:
        return len(self.task_arns)

    @property
    def dedupe_key(self) -> str:
        """CloudTrail's eventID names one call; EventBridge may deliver it more than once."""
        return f"launch#{self.event_id}"


# --------------------------------------------------------------------------- reading


def is_runtask_call(raw: object) -> bool:
    """Cheap test for routing: an ECS RunTask call delivered by EventBridge from CloudTrail."""
    if not isinstance(raw, Mapping):
        return False
    detail = raw.get("detail")
    return (
        raw.get("source") == ECS_SOURCE
        and raw.get("detail-type") == API_CALL_VIA_CLOUDTRAIL
        and isinstance(detail, Mapping)
        and detail.get("eventName") == RUN_TASK
    )


def parse_launch(raw: Mapping[str, Any]) -> LaunchAttempt:
    """Build a :class:`LaunchAttempt` from the EventBridge event, or raise :class:`MalformedEvent`."""
    detail = _runtask_detail(raw)
    event_id = required_str(detail, "eventID")
    region = optional_str(detail.get("awsRegion")) or optional_str(raw.get("region"))
    account = optional_str(detail.get("recipientAccountId")) or optional_str(raw.get("account"))
    if not region or not account:
        raise MalformedEvent("detail.awsRegion or detail.recipientAccountId is missing")
    require_aws_parts(region=region, account=account)
    identity = _mapping(detail.get("userIdentity"), "detail.userIdentity")
    error_code = optional_str(detail.get("errorCode")) or None
    error_message = optional_str(detail.get("errorMessage"))
    request = _optional_mapping(detail.get("requestParameters"), "detail.requestParameters")
    response = _optional_mapping(detail.get("responseElements"), "detail.responseElements") or {}
    partition = _partition(optional_str(identity.get("arn")))
    if request is None:
        task_definition = _task_definition_in(error_message)
        fields = _RequestFields(None, None, None, None, (), 0)
    else:
        task_definition = _task_definition(request, region, account, partition)
        fields = _request_fields(request, _family_of(task_definition))
    return LaunchAttempt(
        event_id=event_id,
        event_time=_event_time(detail),
        region=region,
        account=account,
        cluster=fields.cluster,
        task_definition=task_definition,
        family=_family_of(task_definition),
        started_by=fields.started_by,
        group=fields.group,
        launch_type=fields.launch_type,
        capacity_providers=fields.capacity_providers,
        count=fields.count,
        invoked_by=_invoked_by(identity, detail),
        caller_arn=optional_str(identity.get("arn")),
        error_code=error_code,
        error_message=error_message,
        failures=tuple(_failure(f, i) for i, f in enumerate(_list(response, "failures"))),
        task_arns=tuple(_task_arn(t, i) for i, t in enumerate(_list(response, "tasks"))),
        request_recorded=request is not None,
        request=request,
    )


class _RequestFields(msgspec.Struct, frozen=True):
    cluster: str | None
    started_by: str | None
    group: str | None
    launch_type: str | None
    capacity_providers: tuple[str, ...]
    count: int


def _runtask_detail(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not a JSON object")
    detail = raw.get("detail")
    if not is_runtask_call(raw) or not isinstance(detail, Mapping):
        name = detail.get("eventName", "?") if isinstance(detail, Mapping) else "?"
        raise MalformedEvent(f"not an ECS RunTask call via CloudTrail: {event_kind(raw)} {name}")
    source = detail.get("eventSource")
    if source != ECS_EVENT_SOURCE:
        raise MalformedEvent(f"detail.eventSource is {source!r}, not {ECS_EVENT_SOURCE!r}")
    return detail


def _request_fields(request: Mapping[str, Any], family: str | None) -> _RequestFields:
    """What the caller asked for, with ECS's defaults for what it left out."""
    strategy = _list(request, "capacityProviderStrategy", "detail.requestParameters.")
    return _RequestFields(
        cluster=_cluster_name(optional_str(request.get("cluster"))),
        started_by=optional_str(request.get("startedBy")),
        group=optional_str(request.get("group")) or (f"family:{family}" if family else None),
        launch_type=optional_str(request.get("launchType")),
        capacity_providers=tuple(
            str(item["capacityProvider"])
            for item in strategy
            if isinstance(item, Mapping) and item.get("capacityProvider")
        ),
        count=_count(request.get("count")),
    )


def _cluster_name(value: str | None) -> str:
    if not value:
        return DEFAULT_CLUSTER
    if value.startswith("arn:"):
        return Arn.parse(value).resource.split("/", 1)[-1]
    return value


def _task_definition(
    request: Mapping[str, Any], region: str, account: str, partition: str
) -> TaskDefinitionRef | str:
    """An ARN, ``family:revision`` (made into this region's and account's ARN) or a bare family."""
    value = required_str(request, "taskDefinition", "detail.requestParameters.")
    if value.startswith("arn:"):
        resource = Arn.parse(value).resource
        if ":" not in resource:
            return _bare_family(resource.partition("/")[2], value)
        return TaskDefinitionRef.parse(value)
    family, sep, revision = value.rpartition(":")
    if sep and revision.isdigit() and family:
        arn = f"arn:{partition}:ecs:{region}:{account}:task-definition/{value}"
        return TaskDefinitionRef(arn=arn, family=family, revision=int(revision))
    return _bare_family(value, value)


def _bare_family(family: str, value: str) -> str:
    if not family or ":" in family or "/" in family:
        raise MalformedEvent(f"detail.requestParameters.taskDefinition is not a task definition: {value!r}")
    return family


def _task_definition_in(message: str | None) -> TaskDefinitionRef | str | None:
    """The task definition an authorization error names, when the request itself was not recorded."""
    match = _TASK_DEFINITION_IN_MESSAGE.search(message or "")
    if match is None:
        return None
    arn = match.group(1)
    resource = Arn.parse(arn).resource
    return TaskDefinitionRef.parse(arn) if ":" in resource else resource.partition("/")[2] or None


def _family_of(task_definition: TaskDefinitionRef | str | None) -> str | None:
    if isinstance(task_definition, TaskDefinitionRef):
        return task_definition.family
    return task_definition


def _partition(arn: str | None) -> str:
    parts = (arn or "").split(":", 2)
    return parts[1] if len(parts) > 1 and parts[0] == "arn" and parts[1] else "aws"


def _invoked_by(identity: Mapping[str, Any], detail: Mapping[str, Any]) -> str | None:
    """invokedBy, or the service name CloudTrail puts in sourceIPAddress for calls AWS services make."""
    invoked = optional_str(identity.get("invokedBy"))
    if invoked:
        return invoked
    source_ip = optional_str(detail.get("sourceIPAddress")) or ""
    return source_ip if source_ip.endswith(".amazonaws.com") else None


def _event_time(detail: Mapping[str, Any]) -> datetime:
    """Required: CloudTrail always records it, and it places the failed run in the history (a
    stand-in such as "now" would file each redelivery of the record under another key)."""
    try:
        moment = parse_timestamp(detail.get("eventTime"))
    except MalformedEvent as e:
        raise MalformedEvent(f"detail.eventTime: {e}") from e
    if moment is None:
        raise MalformedEvent("detail.eventTime is missing")
    return moment


def _failure(raw: object, index: int) -> PlacementFailure:
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"detail.responseElements.failures[{index}] is not an object")
    return PlacementFailure(
        arn=optional_str(raw.get("arn")),
        reason=optional_str(raw.get("reason")),
        detail=optional_str(raw.get("detail")),
    )


def _task_arn(raw: object, index: int) -> str:
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"detail.responseElements.tasks[{index}] is not an object")
    return required_str(raw, "taskArn", f"detail.responseElements.tasks[{index}].")


def _count(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MalformedEvent(f"detail.requestParameters.count is not a positive integer: {value!r}")
    return value


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    return _optional_mapping(value, name) or {}


def _optional_mapping(value: object, name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{name} is not an object")
    return value


def _list(data: Mapping[str, Any], key: str, where: str = "detail.responseElements.") -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEvent(f"{where}{key} is not a list")
    return value


# --------------------------------------------------------------------------- judging


def failure_kind(attempt: LaunchAttempt) -> LaunchFailureKind | None:
    """What kind of failure this launch met; None when it did not fail."""
    if attempt.error_code:
        return _error_kind(attempt.error_code, attempt.error_message)
    if attempt.failures:
        return _placement(attempt.failures[0])[0]
    return None


def _error_kind(code: str, message: str | None) -> LaunchFailureKind:
    """An InvalidParameterException that says 'Rate exceeded' is ECS's own EC2 lookup being throttled."""
    kind = _ERROR_KINDS.get(code, LaunchFailureKind.UNKNOWN)
    if kind is LaunchFailureKind.INVALID and _THROTTLED_MESSAGE.search(message or ""):
        return LaunchFailureKind.THROTTLED
    return kind


def _reason(failure: PlacementFailure) -> str:
    return failure.reason or "(no reason given)"


def _placement(failure: PlacementFailure) -> tuple[LaunchFailureKind, str]:
    """The kind of one failures[] entry and a human line for it: its code, then what it means."""
    reason = _reason(failure)
    if reason.startswith(_FARGATE_CAPACITY):
        return LaunchFailureKind.CAPACITY, f"Fargate — {reason}"
    known = _PLACEMENT_REASONS.get(reason)
    if known is None and reason.startswith("RESOURCE:"):
        known = (LaunchFailureKind.CAPACITY, _OTHER_RESOURCE)
    if known is None:
        return LaunchFailureKind.UNKNOWN, _with_detail(reason, failure.detail)
    kind, meaning = known
    return kind, _with_detail(f"{reason} — {meaning}", failure.detail)


def _with_detail(text: str, detail: str | None) -> str:
    return f"{text} ({detail})" if detail else text


def launch_cause(attempt: LaunchAttempt) -> str:
    """One human line: what kind of failure, AWS's own code, what it means, and how many tasks started."""
    kind = failure_kind(attempt)
    if kind is None:
        return f"not failed: {_started(attempt)}"
    if attempt.error_code:
        text = f"{attempt.error_code} — {_one_line(attempt.error_message) or '(no message)'}"
    else:
        text = _placement_text(attempt.failures)
    cause = f"{_LABELS[kind]}: {text}"
    if attempt.started:
        cause += f" ({_started(attempt)})"
    return _cut(cause)


def _placement_text(failures: tuple[PlacementFailure, ...]) -> str:
    """The first failure in full; other distinct reasons are named after it."""
    first = _placement(failures[0])[1]
    others = sorted({_reason(f) for f in failures[1:]} - {_reason(failures[0])})
    return f"{first}; also {', '.join(others)}" if others else first


def _started(attempt: LaunchAttempt) -> str:
    """An unrecorded request has count 0: what started is then all that is known."""
    asked = max(attempt.count, attempt.started)
    return f"{attempt.started} of {asked} task{'' if asked == 1 else 's'} started"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _cut(text: str) -> str:
    return cut_middle(text, CAUSE_LIMIT)


def is_retryable_launch(attempt: LaunchAttempt) -> bool:
    """Retry by default; not when the same request must fail again (not allowed, invalid request)."""
    kind = failure_kind(attempt)
    return kind is not None and kind not in _NOT_RETRYABLE


# --------------------------------------------------------------------------- who launched it


def rule_name(attempt: LaunchAttempt) -> str | None:
    """The EventBridge rule named in startedBy, when the name is whole (not cut at 36 characters)."""
    return _whole_name(attempt.started_by, RULE_PREFIX)


def schedule_name(attempt: LaunchAttempt) -> str | None:
    """The EventBridge Scheduler schedule named in startedBy, when the name is whole."""
    return _whole_name(attempt.started_by, SCHEDULE_PREFIX)


def _whole_name(started_by: str | None, prefix: str) -> str | None:
    if not started_by or not started_by.startswith(prefix) or len(started_by) == STARTED_BY_LIMIT:
        return None
    return started_by[len(prefix) :] or None


def _named(started_by: str | None, prefix: str) -> str | None:
    """The name in startedBy, marked with '…' when it may have been cut."""
    if not started_by or not started_by.startswith(prefix) or len(started_by) == len(prefix):
        return None
    name = started_by[len(prefix) :]
    return name + "…" if len(started_by) == STARTED_BY_LIMIT else name


def is_ecswatch_launch(attempt: LaunchAttempt) -> bool:
    """A RunTask call of ecswatch's own retry launcher (a retry or a chained job): it saw the answer."""
    return (attempt.started_by or "").startswith((RETRY_PREFIX, CHAIN_PREFIX))


_OWN_LAUNCHERS = {
    RETRY_PREFIX: "ecswatch retry launcher",
    CHAIN_PREFIX: "ecswatch retry launcher (dependency chain)",
}
_SERVICES = {EVENTS_SERVICE: "an EventBridge rule", SCHEDULER_SERVICE: "EventBridge Scheduler"}


def launcher(attempt: LaunchAttempt) -> str:
    """Who made the call, as on-call people name it."""
    started_by = attempt.started_by or ""
    own = next((name for prefix, name in _OWN_LAUNCHERS.items() if started_by.startswith(prefix)), None)
    if own:
        return own
    rule = _named(started_by, RULE_PREFIX)
    if rule:
        return f"EventBridge rule {rule}"
    schedule = _named(started_by, SCHEDULE_PREFIX)
    if schedule:
        return f"EventBridge Scheduler schedule {schedule}"
    return _SERVICES.get(attempt.invoked_by or "") or attempt.caller_arn or "an unknown caller"


def launcher_url(attempt: LaunchAttempt) -> str | None:
    """The console page of the rule that made the call, when its whole name is known.

    A schedule's page needs its group, which neither startedBy nor the record carries.
    """
    name = rule_name(attempt)
    return rule_url(attempt.region, name) if name else None


# --------------------------------------------------------------------------- console links


def cloudtrail_event_url(region: str, event_id: str) -> str:
    """The record in CloudTrail Event history (it may take a few minutes to appear there)."""
    return f"{console_base(region)}/cloudtrailv2/home?region={region}#/events/{_segment(event_id)}"


def rule_url(region: str, rule: str, bus: str = "default") -> str:
    """The rule's page in the EventBridge console (rules live on an event bus; scheduled ones on default)."""
    return (
        f"{console_base(region)}/events/home?region={region}#/eventbus/{_segment(bus)}/rules/{_segment(rule)}"
    )


def schedule_url(region: str, group: str, name: str) -> str:
    """The schedule's page in the EventBridge Scheduler console."""
    return (
        f"{console_base(region)}/scheduler/home?region={region}#schedules/{_segment(group)}/{_segment(name)}"
    )


def _segment(value: str) -> str:
    return quote(value, safe="")


# --------------------------------------------------------------------------- which job
