"""boto3 behind the retry ports: RunTask, DescribeTasks, and the network of the rule that started a task.

RunTask's answer has three shapes, and each means something different to the launcher:

* a task: the attempt is running;
* ``failures[]`` (the call was fine, ECS could not place the task): capacity shortages
  (``RESOURCE:*``, Fargate's "Capacity is unavailable at this time…", a disconnected
  ``AGENT``) pass by waiting, so they raise :class:`TransientError` and SQS redelivers;
  any other reason (``MISSING``, ``INACTIVE``, ``ATTRIBUTE``, ``LOCATION``…) comes back
  as ``LaunchResult.failure``, which the caller alerts on;
* an error: throttling and 5xx are transient; a refusal (invalid parameter, access
  denied, incompatible platform…) is a failure too, never dropped.

The same ``clientToken`` on every delivery of one request means a redelivery after a
timeout finds the task the first call started instead of starting another.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from ecswatch.adapters.aws.reads import error_code
from ecswatch.adapters.aws.schedules import find_schedule
from ecswatch.analysis.redact import redact
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.task import TaskEvent, TaskRef, parse_task_event
from ecswatch.events.vocabulary import (
    CHAIN_TRIGGER,
    ECS_SOURCE,
    FARGATE_CAPACITY_PROVIDERS,
    RULE_PREFIX,
    SCHEDULE_PREFIX,
    STARTED_BY_LIMIT,
    TASK_STATE_CHANGE,
)
from ecswatch.run import LaunchResult, RetryRequest

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

logger = Logger(child=True)
_V = TypeVar("_V")

TAG_ROOT_TASK = "ecswatch:root-task"
TAG_ATTEMPT = "ecswatch:attempt"
TAG_JOB = "ecswatch:job"
#: Tasks a dependency chain starts: the chain, and the task of the run that started them.
TAG_CHAIN = "ecswatch:chain"
TAG_TRIGGERED_BY = "ecswatch:triggered-by"
#: ECS tag values: at most 256 of letters, digits, spaces and ``+ - = . _ : / @``.
_TAG_VALUE_LIMIT = 256
_NOT_A_TAG_CHARACTER = re.compile(r"[^\w\s+\-=.:/@]")

#: Codes that say "not now": the same request later may well pass.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ServerException",
        "InternalException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
#: ECS wraps some throttling of the services it calls for you in an InvalidParameterException
#: ("Error retrieving security group information ...: Request limit exceeded. (ErrorCode:
#: RequestLimitExceeded)"); the message, not the code, says it will pass.
_WAITING_HELPS_MESSAGE = re.compile(
    r"Rate exceeded|ErrorCode: Throttling|RequestLimitExceeded|Capacity is unavailable at this time"
)
_FARGATE_NO_CAPACITY = "Capacity is unavailable at this time"
_GONE = frozenset({"ResourceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"})
_DENIED = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnrecognizedClientException"}
)


# --- RunTask ------------------------------------------------------------------------------------------


class EcsTaskRunner:
    """RunTask with the stopped task's own parameters; ``.calls`` counts RunTask calls."""

    def __init__(self, client_for_region: Callable[[str], ECSClient]) -> None:
        self._client_for_region = client_for_region
        self.calls = 0

    def run(self, request: RetryRequest) -> LaunchResult:
        params = run_task_parameters(request)
        self.calls += 1
        try:
            response = self._client_for_region(request.region).run_task(**params)
        except ParamValidationError as e:
            # botocore refused the request before sending it: sending it again changes nothing.
            return LaunchResult(failure=redact(f"invalid RunTask parameters: {e}"))
        except ClientError as e:
            return _refusal(e, request)
        except BotoCoreError as e:
            raise TransientError(f"RunTask {request.key}: {e}") from e
        return _launch_result(response, request)

    def describe_task(
        self, region: str, task_arn: str, *, cluster: str | None = None
    ) -> Mapping[str, Any] | None:
        """The task as DescribeTasks sees it (with its tags), or None when ECS no longer knows it.

        Old-format task ARNs (``task/<id>``) do not name their cluster; pass ``cluster`` then,
        or the default cluster is asked.
        """
        ref = TaskRef.from_arns(task_arn, None)
        cluster = cluster or ref.cluster or "default"
        try:
            response = self._client_for_region(region).describe_tasks(
                cluster=cluster, tasks=[task_arn], include=["TAGS"]
            )
        except ClientError as e:
            code = error_code(e)
            if code in _GONE or code == "ClientException":
                return None
            if code in _DENIED:
                raise DeliveryError(
                    f"not allowed to describe {task_arn} ({code}); grant ecs:DescribeTasks"
                ) from e
            raise TransientError(f"DescribeTasks {task_arn}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"DescribeTasks {task_arn}: {e}") from e
        tasks: list[Any] = list(response.get("tasks", []))
        return dict(tasks[0]) if tasks else None

    def task_event(self, task_arn: str) -> TaskEvent | None:
        """The task read like a stop event (for a manual retry); None when ECS no longer knows it."""
        ref = TaskRef.from_arns(task_arn, None)  # MalformedEvent names what is wrong with the ARN
        task = self.describe_task(ref.region, task_arn)
        if task is None:
            return None
        return parse_task_event(task_event_from_description(task, ref.region, ref.account))


def run_task_parameters(request: RetryRequest) -> dict[str, Any]:
    """RunTask's keyword arguments for one attempt: the stopped task's parameters, tagged with the run."""
    params: dict[str, Any] = {
        "cluster": request.cluster,
        "taskDefinition": request.task_definition_arn,
        "count": 1,
        "clientToken": request.client_token,
        "startedBy": request.started_by,
    }
    if request.group:
        params["group"] = request.group
    if request.overrides:
        params["overrides"] = _plain(request.overrides)
    # RunTask takes a capacity provider strategy or a launch type, never both; a task that
    # ran on a capacity provider reports both, and the provider is what decides placement.
    if request.capacity_provider_strategy:
        params["capacityProviderStrategy"] = _plain(request.capacity_provider_strategy)
    elif request.capacity_provider:
        params["capacityProviderStrategy"] = [{"capacityProvider": request.capacity_provider, "weight": 1}]
    elif request.launch_type:
        params["launchType"] = request.launch_type
    if request.platform_version and _is_fargate(request):
        params["platformVersion"] = request.platform_version
    if request.network_configuration:
        params["networkConfiguration"] = _plain(request.network_configuration)
    params["propagateTags"] = request.propagate_tags
    params["enableECSManagedTags"] = True
    extras = _plain(request.run_task_extras)
    own = retry_tags(request)
    params["tags"] = _carried_tags(extras.pop("tags", []), own) + own
    params.update({key: value for key, value in extras.items() if key in _EXTRA_PARAMETERS})
    return params


#: ECS allows 50 tags on a task; the ``aws:`` prefix is reserved (RunTask refuses both).
MAX_TASK_TAGS = 50


def _carried_tags(recorded: list[dict[str, Any]], own: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The recorded request's own tags that RunTask will take next to ecswatch's."""
    ours = {tag["key"] for tag in own}
    kept = [
        tag
        for tag in recorded
        if isinstance(tag, dict)
        and tag.get("key") not in ours
        and not str(tag.get("key", "")).lower().startswith("aws:")
    ]
    return kept[: MAX_TASK_TAGS - len(own)]


#: RunTask parameters a retry may carry over as recorded (see ``RetryRequest.run_task_extras``).
_EXTRA_PARAMETERS = frozenset({"placementConstraints", "placementStrategy", "enableExecuteCommand"})


def retry_tags(request: RetryRequest) -> list[dict[str, str]]:
    """Tags that tie the new task to its run even when the lineage record is gone.

    A task a chain starts is the root of its own run; its tags name the chain and the run that
    started it instead.
    """
    if request.trigger == CHAIN_TRIGGER:
        first = {
            "key": TAG_TRIGGERED_BY,
            "value": _tag_value((request.triggered_by or "").rsplit("/", 1)[-1]),
        }
    else:
        first = {"key": TAG_ROOT_TASK, "value": _tag_value(request.root_task_arn.rsplit("/", 1)[-1])}
    tags = [
        first,
        {"key": TAG_ATTEMPT, "value": str(request.attempt)},
        {"key": TAG_JOB, "value": _tag_value(request.job)},
    ]
    if request.chain_id:
        tags.append({"key": TAG_CHAIN, "value": _tag_value(request.chain_id)})
    return tags


def _is_fargate(request: RetryRequest) -> bool:
    """platformVersion is for Fargate only; ECS refuses it for EC2 and external tasks."""
    providers = {str(item.get("capacityProvider")) for item in request.capacity_provider_strategy or ()}
    return (
        request.launch_type == "FARGATE"
        or request.capacity_provider in FARGATE_CAPACITY_PROVIDERS
        or bool(providers & FARGATE_CAPACITY_PROVIDERS)
    )


def _tag_value(text: str) -> str:
    return _NOT_A_TAG_CHARACTER.sub("_", text)[:_TAG_VALUE_LIMIT]


def _plain(value: Any) -> Any:
    """Dicts and lists all the way down: botocore validates structures as dicts, not Mappings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return copy.copy(value)


def _launch_result(response: Mapping[str, Any], request: RetryRequest) -> LaunchResult:
    tasks: list[Any] = list(response.get("tasks") or [])
    if tasks and tasks[0].get("taskArn"):
        return LaunchResult(task_arn=str(tasks[0]["taskArn"]))
    failures: list[Any] = list(response.get("failures") or [])
    if not failures:
        return LaunchResult(failure="RunTask started no task and gave no reason")
    reason = str(failures[0].get("reason") or "unknown reason")
    detail = failures[0].get("detail")
    text = f"{reason}: {detail}" if detail else reason
    if waiting_helps(reason):
        raise TransientError(f"RunTask {request.key}: no capacity now ({text})")
    return LaunchResult(failure=redact(text))


def waiting_helps(reason: str) -> bool:
    """A ``failures[].reason`` that means "no room now": instances free up, Fargate finds capacity."""
    return reason.startswith(("RESOURCE:", _FARGATE_NO_CAPACITY)) or reason == "AGENT"


def _refusal(error: ClientError, request: RetryRequest) -> LaunchResult:
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _TRANSIENT_CODES or status >= 500 or status == 429 or _WAITING_HELPS_MESSAGE.search(message):
        raise TransientError(f"RunTask {request.key}: {code}: {message}") from error
    if code == "ConflictException":
        # The token was used by an earlier call of this very attempt with other parameters
        # (a rule's network changed between deliveries, say): that call's task is the attempt.
        response: Mapping[str, Any] = error.response
        existing: list[Any] = list(response.get("resourceIds") or [])
        if existing:
            logger.warning(
                "RunTask token already used; taking the task it started",
                extra={"key": request.key, "task_arn": existing[0]},
            )
            return LaunchResult(task_arn=str(existing[0]))
    # ECS quotes the request back (image URLs, environment): the refusal is told in Slack and logs.
    return LaunchResult(failure=redact(f"{code}: {message}") if message else code or "RunTask refused")


# --- DescribeTasks as an event ------------------------------------------------------------------------


def task_event_from_description(
    task: Mapping[str, Any], region: str, account: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """An ``ECS Task State Change`` event for a task read with DescribeTasks.

    DescribeTasks and the event name their fields alike (taskArn, clusterArn, containers[],
    overrides, launchType, capacityProviderName, startedBy, stopCode, createdAt...); only
    timestamps differ: boto3 gives datetimes, the event ISO-8601 strings in UTC with 'Z'.
    """
    task_arn = str(task.get("taskArn", ""))
    return {
        "version": "0",
        "id": f"manual-{task_arn.rsplit('/', 1)[-1]}",
        "detail-type": TASK_STATE_CHANGE,
        "source": ECS_SOURCE,
        "account": account,
        "time": _iso(now or datetime.now(UTC), timespec="seconds"),
        "region": region,
        "resources": [task_arn],
        "detail": _as_json(task),
    }


def _as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value, timespec="milliseconds")
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


def _iso(moment: datetime, *, timespec: str) -> str:
    """UTC with 'Z', as ECS events write it; boto3 hands out local-zone datetimes, naive ones are UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# --- the EventBridge rule's network -------------------------------------------------------------------


class _Target(NamedTuple):
    task_definition_arn: str
    network: Mapping[str, Any]


def _named_after(started_by: str | None, prefix: str) -> tuple[str, bool] | None:
    """The rule or schedule name after ``prefix`` in startedBy, and whether ECS may have cut it
    (it keeps 36 characters); None when startedBy names no such thing."""
    if not started_by or not started_by.startswith(prefix) or started_by == prefix:
        return None
    return started_by[len(prefix) :], len(started_by) == STARTED_BY_LIMIT


class _NotNow(Exception):
    """A lookup refused for a reason an operator will fix (access denied): answer "none" this
    time, but do not remember it for the container's life."""


class _ReadOnce(Generic[_V]):
    """What an AWS lookup answered, per key, for the container's life ("nothing" included): rules
    and schedules change rarely, and a burst of failures must not cost a lookup each."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], _V] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], read: Callable[[], _V]) -> _V:
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        answer = read()  # outside the lock: a slow call must not hold up other keys
        with self._lock:
            self._answers[key] = answer
        return answer


class RuleNetworkDiscovery:
    """The networkConfiguration an EventBridge rule gives its tasks (startedBy ``events-rule/<rule>``).

    A stopped task's event does not carry its subnets and security groups, but the rule
    that started it does. Targets are read once per (region, rule) for the container's
    life, including "none": rules change rarely and a burst of failures would otherwise
    cost a ListTargetsByRule each. Only rules on the default event bus are found.
    """

    def __init__(self, client_for_region: Callable[[str], EventBridgeClient]) -> None:
        self._client_for_region = client_for_region
        self._targets_of: _ReadOnce[tuple[_Target, ...]] = _ReadOnce()
        #: EventBridge API calls made (each page counts).
        self.calls = 0

    def network_for(
        self, region: str, started_by: str | None, task_definition_arn: str | None = None
    ) -> Mapping[str, Any] | None:
        """The rule's network; with ``task_definition_arn``, that of the target running the same family."""
        named = _named_after(started_by, RULE_PREFIX)
        if named is None:
            return None
        rule, maybe_cut = named
        targets = self._targets(region, rule, maybe_cut=maybe_cut)
        chosen = _choose(targets, task_definition_arn)
        return None if chosen is None else _plain(chosen.network)

    def _targets(self, region: str, rule: str, *, maybe_cut: bool) -> tuple[_Target, ...]:
        try:
            return self._targets_of.get(
                (region, rule), lambda: self._discover(region, rule, maybe_cut=maybe_cut)
            )
        except _NotNow:
            return ()

    def _discover(self, region: str, rule: str, *, maybe_cut: bool) -> tuple[_Target, ...]:
        client = self._client_for_region(region)
        try:
            try:
                return self._list_targets(client, rule)
            except ClientError as e:
                if error_code(e) != "ResourceNotFoundException" or not maybe_cut:
                    raise
            # startedBy keeps 36 characters, so a long rule name arrives cut: find the one rule it begins.
            whole = self._only_rule_starting(client, rule)
            return self._list_targets(client, whole) if whole else ()
        except ClientError as e:
            code = error_code(e)
            if code in _GONE or code in _DENIED:
                logger.warning(
                    "cannot read the rule's targets; retries go without a network configuration",
                    extra={"region": region, "rule": rule, "error_code": code, "error": str(e)},
                )
                if code in _DENIED:
                    raise _NotNow from e  # not remembered: a fixed policy works on the next retry
                return ()
            raise TransientError(f"ListTargetsByRule {rule}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"ListTargetsByRule {rule}: {e}") from e

    def _list_targets(self, client: EventBridgeClient, rule: str) -> tuple[_Target, ...]:
        found: list[_Target] = []
        token = ""
        while True:
            self.calls += 1
            page = (
                client.list_targets_by_rule(Rule=rule, NextToken=token)
                if token
                else client.list_targets_by_rule(Rule=rule)
            )
            found.extend(_ecs_targets(page.get("Targets", [])))
            token = page.get("NextToken", "")
            if not token:
                return tuple(found)

    def _only_rule_starting(self, client: EventBridgeClient, prefix: str) -> str | None:
        names: list[str] = []
        token = ""
        while True:
            self.calls += 1
            page = (
                client.list_rules(NamePrefix=prefix, NextToken=token)
                if token
                else client.list_rules(NamePrefix=prefix)
            )
            names.extend(str(r["Name"]) for r in page.get("Rules", []) if r.get("Name"))
            token = page.get("NextToken", "")
            if not token:
                return names[0] if len(names) == 1 else None


def _ecs_targets(targets: Iterable[Mapping[str, Any]]) -> list[_Target]:
    found = []
    for target in targets:
        ecs = target.get("EcsParameters") or {}
        network = run_task_network(ecs.get("NetworkConfiguration"))
        if network is not None:
            found.append(_Target(str(ecs.get("TaskDefinitionArn", "")), network))
    return found


def run_task_network(events_network: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """EventBridge's ``NetworkConfiguration`` (capitalised inside ``awsvpcConfiguration``) as RunTask's.

    Shaped like :meth:`ecswatch.config.model.NetworkConfig.run_task_network_configuration`, so a
    job's configured network and a discovered one look the same in a retry request.
    """
    awsvpc = (events_network or {}).get("awsvpcConfiguration") or {}
    subnets = list(awsvpc.get("Subnets") or [])
    if not subnets:
        return None
    converted: dict[str, Any] = {
        "subnets": subnets,
        "assignPublicIp": str(awsvpc.get("AssignPublicIp") or "DISABLED"),
    }
    if awsvpc.get("SecurityGroups"):
        converted["securityGroups"] = list(awsvpc["SecurityGroups"])
    return {"awsvpcConfiguration": converted}


def _choose(targets: tuple[_Target, ...], task_definition_arn: str | None) -> _Target | None:
    if task_definition_arn:
        family = _family(task_definition_arn)
        same = next((t for t in targets if _family(t.task_definition_arn) == family), None)
        if same is not None:
            return same
    return targets[0] if targets else None


def _family(task_definition: str) -> str:
    """``arn:...:task-definition/fam:3``, ``.../fam``, ``fam:3`` and ``fam`` all name family ``fam``."""
    name = task_definition.rsplit("task-definition/", 1)[-1]
    family, sep, revision = name.rpartition(":")
    return family if sep and revision.isdigit() else name


# --- the EventBridge Scheduler schedule's network ------------------------------------------------------


class ScheduleNetworkDiscovery:
    """The networkConfiguration of the EventBridge Scheduler schedule that started a task
    (startedBy ``chronos-schedule/<schedule>``), as :class:`RuleNetworkDiscovery` does for rules.

    Only 19 characters of a schedule's name fit in startedBy's 36, so a cut name is looked up
    by prefix (ListSchedules) and taken when exactly one schedule begins with it. Read once per
    (region, name) for the container's life, "none" included.
    """

    def __init__(self, client_for_region: Callable[[str], EventBridgeSchedulerClient]) -> None:
        self._client_for_region = client_for_region
        self._networks: _ReadOnce[dict[str, Any] | None] = _ReadOnce()
        #: Scheduler API calls made (each page counts).
        self.calls = 0

    def network_for(
        self, region: str, started_by: str | None, task_definition_arn: str | None = None
    ) -> Mapping[str, Any] | None:
        named = _named_after(started_by, SCHEDULE_PREFIX)
        if named is None:
            return None
        name, maybe_cut = named
        try:
            found = self._networks.get(
                (region, name), lambda: self._discover(region, name, maybe_cut=maybe_cut)
            )
        except _NotNow:
            return None
        return _plain(found) if found else None

    def _discover(self, region: str, name: str, *, maybe_cut: bool) -> dict[str, Any] | None:
        client = self._client_for_region(region)
        try:
            return self._network(client, name, maybe_cut=maybe_cut)
        except ClientError as e:
            code = error_code(e)
            if code in _GONE or code in _DENIED:
                logger.warning(
                    "cannot read the schedule; retries go without a network configuration",
                    extra={"region": region, "schedule": name, "error_code": code, "error": str(e)},
                )
                if code in _DENIED:
                    raise _NotNow from e  # not remembered: a fixed policy works on the next retry
                return None
            raise TransientError(f"GetSchedule {name}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"GetSchedule {name}: {e}") from e

    def _network(
        self, client: EventBridgeSchedulerClient, name: str, *, maybe_cut: bool
    ) -> dict[str, Any] | None:
        schedule = find_schedule(client, name, maybe_cut=maybe_cut, call=self._counted)
        ecs: Mapping[str, Any] = dict((schedule or {}).get("Target", {}).get("EcsParameters") or {})
        return run_task_network(ecs.get("NetworkConfiguration"))

    def _counted(self, action: str, operation: Callable[..., Any], **params: Any) -> Any:
        self.calls += 1
        return operation(**params)


class StartedByNetworkDiscovery:
    """The network of whatever started the task: an EventBridge rule or a Scheduler schedule."""

    def __init__(self, *discoveries: RuleNetworkDiscovery | ScheduleNetworkDiscovery) -> None:
        self._discoveries = discoveries

    def network_for(
        self, region: str, started_by: str | None, task_definition_arn: str | None = None
    ) -> Mapping[str, Any] | None:
        for discovery in self._discoveries:
            network = discovery.network_for(region, started_by, task_definition_arn)
            if network is not None:
                return network
        return None
