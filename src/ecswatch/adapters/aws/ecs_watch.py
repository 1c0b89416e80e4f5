"""boto3 behind the watchdog's ports: the live tasks of the watched clusters, StopTask, and the
schedules of the rules and Scheduler schedules that start jobs.

Scale: a cluster may run hundreds of tasks. ListTasks answers at most 100 ARNs a page (followed by
``nextToken``) and DescribeTasks takes at most 100 tasks a call, so a cluster with N live tasks
costs ceil(N/100) of each. ``desiredStatus=RUNNING`` lists PROVISIONING, PENDING, ACTIVATING and
RUNNING tasks alike: everything ECS still means to run, which is what both overruns and stuck starts
are about; a task already told to stop (desired STOPPED) is not listed.

Which clusters: WATCH_CLUSTERS (names or ARNs; an ARN names its region), or, when it is empty and
ecswatch watches every cluster, every cluster ListClusters gives in the function's region.

A cluster that cannot be read (denied, gone) is a problem for that cluster only: the others are
still checked, and the problem is reported so the invocation fails visibly.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.adapters.aws.ecs_runner import task_event_from_description
from ecswatch.adapters.aws.reads import error_code
from ecswatch.adapters.aws.schedules import find_schedule
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.task import Arn, MalformedEvent, TaskEvent, TaskRef, parse_task_event
from ecswatch.events.vocabulary import RULE_PREFIX, SCHEDULE_PREFIX, STARTED_BY_LIMIT
from ecswatch.run import FoundSchedule, TaskScan

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

logger = Logger(child=True)

#: ListTasks ``maxResults`` and DescribeTasks ``tasks`` both stop at 100 (ECS API reference).
PAGE_SIZE = 100
#: How long a discovered schedule is trusted before it is read again: a rule disabled for
#: maintenance stops being expected within this long.
SCHEDULE_CACHE_SECONDS = 900

#: A rule or schedule that is not there: the job is then expected on its configured schedule only.
_NOT_FOUND = "ResourceNotFoundException"
#: Refusals that only a change of the role's policy ends.
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
#: A name AWS will never accept (match.started_by is copied wrong): only the jobs config can fix it.
_INVALID = frozenset({"ValidationException"})


# --------------------------------------------------------------------------- live tasks


class EcsLiveTasks:
    """``LiveTasks`` on ECS. ``calls`` counts API calls by operation (each page counts)."""

    def __init__(
        self,
        client_for_region: Callable[[str | None], ECSClient],
        *,
        clusters: Collection[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client_for_region = client_for_region
        self._clusters = tuple(clusters)
        self._clock = clock
        self.calls: dict[str, int] = {}

    def scan(self) -> TaskScan:
        tasks: list[TaskEvent] = []
        problems: list[str] = []
        try:
            clusters = self._watched()
        except (ClientError, BotoCoreError) as e:
            return TaskScan(problems=(f"cannot list the clusters to watch: {_describe_error(e)}",))
        for region, cluster in clusters:
            try:
                tasks.extend(self._cluster_tasks(region, cluster, problems))
            except (ClientError, BotoCoreError) as e:
                problems.append(f"cluster {cluster} ({region or 'default region'}): {_describe_error(e)}")
        return TaskScan(tasks=tuple(tasks), problems=tuple(problems))

    def stop(self, task: TaskRef, reason: str) -> None:
        self._count("StopTask")
        try:
            self._client_for_region(task.region).stop_task(
                cluster=task.cluster or "default", task=task.arn, reason=reason
            )
        except ClientError as e:
            if error_code(e) in {"ResourceNotFoundException", "InvalidParameterException"}:
                logger.info("task to stop is gone already", extra={"task_arn": task.arn})
                return
            raise TransientError(f"StopTask {task.arn}: {_describe_error(e)}") from e
        except BotoCoreError as e:
            raise TransientError(f"StopTask {task.arn}: {e}") from e

    def _watched(self) -> list[tuple[str | None, str]]:
        """(region, cluster name or ARN) pairs; region None is the function's own."""
        if self._clusters:
            return [(_region_of(cluster), cluster) for cluster in self._clusters]
        return [(None, arn) for arn in self._pages("ListClusters", None, "clusterArns", {})]

    def _cluster_tasks(self, region: str | None, cluster: str, problems: list[str]) -> Iterator[TaskEvent]:
        arns = list(
            self._pages("ListTasks", region, "taskArns", {"cluster": cluster, "desiredStatus": "RUNNING"})
        )
        client = self._client_for_region(region)
        now = self._clock()
        for start in range(0, len(arns), PAGE_SIZE):
            self._count("DescribeTasks")
            response = client.describe_tasks(cluster=cluster, tasks=arns[start : start + PAGE_SIZE])
            for raw in response.get("tasks", []):
                event = _task_event(raw, now, problems)
                if event is not None:
                    yield event

    def _pages(
        self, operation: str, region: str | None, key: str, params: Mapping[str, Any]
    ) -> Iterator[str]:
        client: Any = self._client_for_region(region)
        method = client.list_clusters if operation == "ListClusters" else client.list_tasks
        token = ""
        while True:
            self._count(operation)
            page = method(**params, maxResults=PAGE_SIZE, **({"nextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("nextToken") or ""
            if not token:
                return

    def _count(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1


def _task_event(raw: Mapping[str, Any], now: datetime, problems: list[str]) -> TaskEvent | None:
    arn = str(raw.get("taskArn", ""))
    try:
        where = Arn.parse(arn)
        return parse_task_event(task_event_from_description(raw, where.region, where.account, now=now))
    except MalformedEvent as e:
        problems.append(f"task {arn or '(no ARN)'} not understood: {e}")
        return None


def _region_of(cluster: str) -> str | None:
    return cluster.split(":")[3] if cluster.startswith("arn:") and cluster.count(":") >= 5 else None


def _describe_error(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message", ""))
        return f"{error_code(error)}: {message}" if message else error_code(error)
    return str(error)


# --------------------------------------------------------------------------- schedules


class AwsScheduleFinder:
    """``ScheduleFinder`` on EventBridge rules (DescribeRule, ListRules) and Scheduler (GetSchedule).

    * ``events-rule/<name>``: DescribeRule. startedBy keeps 36 characters, so a name that long may
      be cut: when no rule has it, the one rule whose name begins with it is taken.
    * ``events-rule/<prefix>*`` (a glob, as job configs write it): ListRules by that prefix; only
      when exactly one scheduled rule matches is it taken, since two would be two schedules.
    * ``chronos-schedule/<name>``: GetSchedule in the default group (startedBy does not say which
      group). Only 19 characters of a schedule's name fit in startedBy, so when the value is 36
      characters long and no schedule has that name, ListSchedules by that prefix (every group)
      and take the one schedule that begins with it. Globs are not followed.

    Answers, "none" included, are cached for :data:`SCHEDULE_CACHE_SECONDS`. A rule or schedule
    that is not there gives None (logged): its job is then expected only on the schedule its config
    names, if any. A refusal that only configuration can end (the role may not read it, or the name
    is one AWS never accepts) raises :class:`DeliveryError` naming what to fix, so the pass lists it
    as a problem and fails visibly instead of never checking the job; it is not cached.
    """

    def __init__(
        self,
        events: EventBridgeClient,
        scheduler: EventBridgeSchedulerClient,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._scheduler = scheduler
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, FoundSchedule | None]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def find(self, started_by: str) -> FoundSchedule | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(started_by)
            if cached is not None and cached[0] > now:
                return cached[1]
        found = self._find(started_by)
        with self._lock:
            self._cache[started_by] = (now + SCHEDULE_CACHE_SECONDS, found)
        return found

    def _find(self, started_by: str) -> FoundSchedule | None:
        try:
            if started_by.startswith(RULE_PREFIX):
                return self._rule(
                    started_by[len(RULE_PREFIX) :], maybe_cut=len(started_by) == STARTED_BY_LIMIT
                )
            if started_by.startswith(SCHEDULE_PREFIX):
                return self._schedule(
                    started_by[len(SCHEDULE_PREFIX) :], maybe_cut=len(started_by) == STARTED_BY_LIMIT
                )
        except ClientError as e:
            if error_code(e) == _NOT_FOUND:
                logger.warning(
                    "no schedule starts the job under that name; only its configured schedule counts",
                    extra={"started_by": started_by, "error": _describe_error(e)},
                )
                return None
            raise TransientError(f"reading the schedule of {started_by}: {_describe_error(e)}") from e
        except BotoCoreError as e:
            raise TransientError(f"reading the schedule of {started_by}: {e}") from e
        return None

    def _rule(self, name: str, *, maybe_cut: bool) -> FoundSchedule | None:
        if _is_glob(name):
            prefix = name[:-1]
            if not prefix or _is_glob(prefix) or not name.endswith("*"):
                logger.warning("only a trailing * is followed in a rule glob", extra={"rule": name})
                return None
            return self._only_rule(prefix, pattern=name)
        try:
            rule: Mapping[str, Any] = self._call("events:DescribeRule", self._events.describe_rule, Name=name)
        except ClientError as e:
            if error_code(e) != "ResourceNotFoundException" or not maybe_cut:
                raise
            return self._only_rule(name, pattern=name + "*")
        return _from_rule(rule)

    def _only_rule(self, prefix: str, *, pattern: str) -> FoundSchedule | None:
        rules: list[Mapping[str, Any]] = []
        token = ""
        while True:
            page = self._call(
                "events:ListRules",
                self._events.list_rules,
                NamePrefix=prefix,
                **({"NextToken": token} if token else {}),
            )
            rules += [
                r
                for r in page.get("Rules", [])
                if r.get("ScheduleExpression") and fnmatch.fnmatchcase(str(r.get("Name", "")), pattern)
            ]
            token = page.get("NextToken", "")
            if not token:
                break
        if len(rules) != 1:
            if rules:
                logger.warning(
                    "several scheduled rules match; the job's schedule must be configured",
                    extra={"rules": [r.get("Name") for r in rules]},
                )
            return None
        return _from_rule(rules[0])

    def _schedule(self, name: str, *, maybe_cut: bool) -> FoundSchedule | None:
        if not name or _is_glob(name):
            return None
        schedule = find_schedule(self._scheduler, name, maybe_cut=maybe_cut, call=self._call)
        return _from_schedule(schedule) if schedule is not None else None

    def _call(self, action: str, operation: Callable[..., Any], **params: Any) -> Any:
        """One API call, counted. A refusal only configuration ends becomes :class:`DeliveryError`
        naming the IAM action or the jobs config; any other error is left to the caller."""
        self.calls += 1
        try:
            return operation(**params)
        except ClientError as e:
            code = error_code(e)
            if code in _DENIED:
                raise DeliveryError(
                    f"{action} refused ({_describe_error(e)}): the watchdog function's role needs {action}"
                ) from e
            if code in _INVALID:
                raise DeliveryError(
                    f"{action} refused ({_describe_error(e)}): match.started_by in the jobs config "
                    "does not name a rule or schedule AWS accepts"
                ) from e
            raise


def _from_schedule(schedule: Mapping[str, Any]) -> FoundSchedule:
    name, group = schedule.get("Name", "?"), schedule.get("GroupName") or "default"
    window = schedule.get("FlexibleTimeWindow") or {}
    minutes = int(window.get("MaximumWindowInMinutes") or 0) if window.get("Mode") == "FLEXIBLE" else 0
    return FoundSchedule(
        expression=str(schedule["ScheduleExpression"]),
        source=f"Scheduler schedule {name}" if group == "default" else f"Scheduler schedule {group}/{name}",
        timezone=str(schedule.get("ScheduleExpressionTimezone") or "UTC"),
        enabled=schedule.get("State", "ENABLED") == "ENABLED",
        start=_utc(schedule.get("StartDate")),
        end=_utc(schedule.get("EndDate")),
        flexible_window_seconds=minutes * 60,
    )


def _from_rule(rule: Mapping[str, Any]) -> FoundSchedule | None:
    expression = rule.get("ScheduleExpression")
    if not expression:
        return None  # an event-pattern rule: it runs the job on events, not on a schedule
    return FoundSchedule(
        expression=str(expression),
        source=f"EventBridge rule {rule.get('Name', '?')}",
        enabled=rule.get("State") != "DISABLED",
    )


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _utc(value: object) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None
