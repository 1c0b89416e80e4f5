"""The account's scheduled ECS tasks, as the CLI reads them: EventBridge rules and Scheduler schedules
whose target is ECS RunTask.

EventBridge rules: ListEventBuses, ListRules on each bus, ListTargetsByRule on each rule (every list
paginated); a target is an ECS task when its ``EcsParameters`` are set (its Arn is the cluster).
Scheduler: ListSchedules over every group, then GetSchedule for each (the list's summaries carry the
target's ARN only); an ECS target is the templated one (Arn = cluster, ``EcsParameters``) or the
universal ``arn:aws:scheduler:::aws-sdk:ecs:runTask`` with RunTask's parameters in ``Input``.

What ECS will write as each task's ``startedBy`` is computed here too (``events-rule/<rule>``,
``chronos-schedule/<schedule>``, cut to the 36 characters ECS keeps), because that is how a job in
jobs.yaml, and the run history, recognise the tasks a rule or schedule starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.cli.aws import CliError, error_code
from ecswatch.config.model import NetworkConfig
from ecswatch.events.vocabulary import DEFAULT_CLUSTER, RULE_PREFIX, SCHEDULE_PREFIX, STARTED_BY_LIMIT

RULE = "rule"
SCHEDULE = "schedule"
#: Scheduler's universal target for RunTask (its parameters are the SDK's, in ``Input``).
UNIVERSAL_RUN_TASK = "arn:aws:scheduler:::aws-sdk:ecs:runTask"
#: Items asked for per page: the most ListEventBuses, ListRules, ListTargetsByRule (Limit) and
#: ListSchedules (MaxResults) return.
PAGE_SIZE = 100
#: A guard against a service that keeps handing back a token.
MAX_PAGES = 1_000


@dataclass(frozen=True)
class ScheduledTask:
    """One ECS task a rule or schedule starts, with what a job and a RunTask retry need to know."""

    source: str  # RULE | SCHEDULE
    name: str  # the rule's or the schedule's name
    group: str | None  # the schedule group, or the rule's event bus when not "default"
    expression: str | None  # cron(...)/rate(...)/at(...); None for a rule matching an event pattern
    timezone: str
    enabled: bool
    cluster: str  # the cluster's name
    task_definition: str  # as the target names it: ARN, family:revision or family
    task_group: str | None
    launch_type: str | None
    network: NetworkConfig | None
    #: Scheduler's StartDate: where a rate() schedule counts from; None for rules.
    start: datetime | None = None

    @property
    def family(self) -> str:
        return family_of(self.task_definition)

    @property
    def started_by(self) -> str:
        """What ECS records as the task's startedBy: the prefix and name, cut as ECS cuts it."""
        prefix = RULE_PREFIX if self.source == RULE else SCHEDULE_PREFIX
        return (prefix + self.name)[:STARTED_BY_LIMIT]

    @property
    def ecs_group(self) -> str:
        """The task's group as ECS reports it: the target's, or ``family:<family>`` by default."""
        return self.task_group or f"family:{self.family}"

    @property
    def label(self) -> str:
        where = f"{self.group}/" if self.group else ""
        return f"{self.source} {where}{self.name}"


def family_of(task_definition: str) -> str:
    """``arn:...:task-definition/name:3``, ``name:3`` and ``name`` all name the family ``name``."""
    return task_definition.rsplit("/", 1)[-1].split(":", 1)[0]


def cluster_name(cluster: str | None) -> str:
    return (cluster or DEFAULT_CLUSTER).rsplit("/", 1)[-1]


def scheduled_tasks(events: Any, scheduler: Any) -> list[ScheduledTask]:
    """Every ECS task a rule (on any bus) or a schedule (in any group) of the region starts."""
    return [*rule_tasks(events), *schedule_tasks(scheduler)]


# --------------------------------------------------------------------------- EventBridge rules


def rule_tasks(client: Any) -> list[ScheduledTask]:
    found: list[ScheduledTask] = []
    with _explained("EventBridge", "events:ListEventBuses, events:ListRules, events:ListTargetsByRule"):
        buses = [str(b["Name"]) for b in _pages(client.list_event_buses, "EventBuses", "Limit")]
        for bus in buses or ["default"]:
            for rule in _pages(client.list_rules, "Rules", "Limit", EventBusName=bus):
                targets = _pages(
                    client.list_targets_by_rule, "Targets", "Limit", Rule=rule["Name"], EventBusName=bus
                )
                found += [_rule_task(rule, bus, target) for target in targets if target.get("EcsParameters")]
    return found


def _rule_task(rule: Mapping[str, Any], bus: str, target: Mapping[str, Any]) -> ScheduledTask:
    ecs = target["EcsParameters"]
    return ScheduledTask(
        source=RULE,
        name=str(rule["Name"]),
        group=None if bus == "default" else bus,
        expression=rule.get("ScheduleExpression") or None,
        timezone="UTC",
        enabled=rule.get("State") == "ENABLED",
        cluster=cluster_name(target.get("Arn")),
        task_definition=str(ecs.get("TaskDefinitionArn", "")),
        task_group=ecs.get("Group") or None,
        launch_type=ecs.get("LaunchType") or None,
        network=_network(ecs.get("NetworkConfiguration")),
    )


# --------------------------------------------------------------------------- EventBridge Scheduler


def schedule_tasks(client: Any) -> list[ScheduledTask]:
    found: list[ScheduledTask] = []
    with _explained("EventBridge Scheduler", "scheduler:ListSchedules, scheduler:GetSchedule"):
        for summary in _pages(client.list_schedules, "Schedules", "MaxResults"):
            group = str(summary.get("GroupName") or "default")
            schedule = client.get_schedule(Name=summary["Name"], GroupName=group)
            task = _schedule_task(schedule, group)
            if task is not None:
                found.append(task)
    return found


def _schedule_task(schedule: Mapping[str, Any], group: str) -> ScheduledTask | None:
    target = schedule.get("Target") or {}
    arn = str(target.get("Arn", ""))
    if target.get("EcsParameters"):
        ecs = target["EcsParameters"]
        cluster, task_definition = arn, str(ecs.get("TaskDefinitionArn", ""))
        task_group, launch_type = ecs.get("Group"), ecs.get("LaunchType")
        network = _network(ecs.get("NetworkConfiguration"))
    elif arn == UNIVERSAL_RUN_TASK:
        params = _json_object(target.get("Input"))
        cluster = str(_get(params, "Cluster") or "")
        task_definition = str(_get(params, "TaskDefinition") or "")
        task_group, launch_type = _get(params, "Group"), _get(params, "LaunchType")
        network = _network(_get(params, "NetworkConfiguration"))
    else:
        return None
    start = schedule.get("StartDate")
    return ScheduledTask(
        source=SCHEDULE,
        name=str(schedule["Name"]),
        group=group,
        expression=schedule.get("ScheduleExpression") or None,
        timezone=str(schedule.get("ScheduleExpressionTimezone") or "UTC"),
        enabled=schedule.get("State", "ENABLED") == "ENABLED",
        cluster=cluster_name(cluster),
        task_definition=task_definition,
        task_group=task_group or None,
        launch_type=launch_type or None,
        network=network,
        start=start if isinstance(start, datetime) else None,
    )


# --------------------------------------------------------------------------- helpers


def _network(config: object) -> NetworkConfig | None:
    """``awsvpcConfiguration`` {Subnets, SecurityGroups, AssignPublicIp} of a rule's or a schedule's
    target; a universal target's RunTask JSON may spell the keys in either case, so any case is read."""
    awsvpc = _get(config, "awsvpcConfiguration")
    subnets = _get(awsvpc, "Subnets")
    if not subnets:
        return None
    return NetworkConfig(
        subnets=tuple(str(s) for s in subnets),
        security_groups=tuple(str(s) for s in _get(awsvpc, "SecurityGroups") or ()),
        assign_public_ip=str(_get(awsvpc, "AssignPublicIp") or "DISABLED").upper() == "ENABLED",
    )


def _get(node: object, key: str) -> Any:
    """``node[key]`` with the key's case ignored; None when node is not a mapping or lacks it."""
    if not isinstance(node, Mapping):
        return None
    wanted = key.lower()
    return next((value for name, value in node.items() if str(name).lower() == wanted), None)


def _json_object(text: object) -> Mapping[str, Any]:
    try:
        value = json.loads(str(text)) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, Mapping) else {}


def _pages(call: Callable[..., Any], key: str, size: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    """Every item of a NextToken-paginated list; ``size`` names the call's page-size parameter."""
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = call(**params, **{size: PAGE_SIZE}, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        following = page.get("NextToken")
        if not following or following == token:
            return
        token = following


@contextmanager
def _explained(service: str, actions: str) -> Iterator[None]:
    """Turns the AWS errors of a block of reads into one CliError line that names the permissions."""
    try:
        yield
    except ClientError as e:
        code = error_code(e)
        if code in {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}:
            raise CliError(f"not allowed to read {service} ({code}); grant {actions}") from e
        raise CliError(f"cannot read {service}: {code}: {e}") from e
    except BotoCoreError as e:
        raise CliError(f"cannot read {service}: {e}") from e
