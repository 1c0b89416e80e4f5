"""The job model: which ECS tasks make up which job, where its alerts go, how it retries, how a
chain starts it; and how a task (or a launch) finds its job.

Frozen values only. Reading and validating ``jobs.yaml`` is :mod:`ecswatch.config.loader`'s work,
checking dependency chains :mod:`ecswatch.config.graph`'s, and the functions read the compiled form
(:mod:`ecswatch.config.compiled`), so importing this module costs no YAML parser, cron engine or
graph walk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

import msgspec

from ecswatch.config.routing import Routing
from ecswatch.events.cloudtrail import LaunchAttempt
from ecswatch.events.task import TaskEvent
from ecswatch.events.vocabulary import FARGATE_CAPACITY_PROVIDERS
from ecswatch.run import LogLocation, Outcome

DEFAULT_SLACK_CHANNEL = "#batch-alerts"
MAX_ATTEMPTS = 10
#: A retry waits at most a day: longer than that, the next scheduled run is the retry.
MAX_BACKOFF_SECONDS = 86_400
MAX_MULTIPLIER = 10.0
#: AWS Batch limits its glob patterns to 512 characters; so do we.
MAX_PATTERN_LENGTH = 512


class ConfigError(ValueError):
    """The configuration cannot be used; ``problems`` holds one line per problem, all of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class RetryAction(StrEnum):
    RETRY = "RETRY"
    EXIT = "EXIT"


class Jitter(StrEnum):
    #: A random delay between 0 and the exponential ceiling: retries of many failed tasks spread out.
    FULL = "full"
    NONE = "none"


class Backoff(msgspec.Struct, frozen=True):
    """Delay before a retry: ``base_seconds * multiplier ** (attempt - 1)``, capped, then jittered."""

    base_seconds: int = 60
    max_seconds: int = 3600
    multiplier: float = 2.0
    jitter: Jitter = Jitter.FULL


class ExitRule(msgspec.Struct, frozen=True):
    """One ``evaluate_on_exit`` entry: when every condition given holds, ``action`` decides."""

    action: RetryAction
    on_exit_code: str | None = None
    on_reason: str | None = None
    on_status_reason: str | None = None
    on_outcome: Outcome | None = None

    def describe(self) -> str:
        """The conditions as written in the config, so a decision can say which rule made it."""
        conditions = (
            ("on_exit_code", self.on_exit_code),
            ("on_reason", self.on_reason),
            ("on_status_reason", self.on_status_reason),
            ("on_outcome", self.on_outcome.value if self.on_outcome else None),
        )
        return ", ".join(f"{name} {value!r}" for name, value in conditions if value is not None)


class RetryPolicy(msgspec.Struct, frozen=True):
    """Modelled on AWS Batch's retryStrategy: ``attempts`` counts the first run (1 = never retry)."""

    attempts: int = 1
    evaluate_on_exit: tuple[ExitRule, ...] = ()
    backoff: Backoff = msgspec.field(default_factory=Backoff)


class MatchRule(msgspec.Struct, frozen=True):
    """Globs over the task's family, cluster name, group and startedBy; absent ones match anything."""

    family: str
    cluster: str | None = None
    group: str | None = None
    started_by: str | None = None

    def matches(self, event: TaskEvent) -> bool:
        checks = (
            (self.family, event.task_definition.family),
            (self.cluster, event.task.cluster),
            (self.group, event.group),
            (self.started_by, event.started_by),
        )
        return all(pattern is None or fnmatchcase(value or "", pattern) for pattern, value in checks)


class LogOverride(msgspec.Struct, frozen=True):
    """Where a job logs when its task definition cannot say (deleted, FireLens with a config file...).

    Streams are named the awslogs way, ``<prefix>/<container>/<task id>``.
    """

    group: str
    stream_prefix: str
    region: str | None = None

    def location(self, event: TaskEvent, container_name: str) -> LogLocation:
        stream = f"{self.stream_prefix}/{container_name}/{event.task.task_id}"
        return LogLocation(self.region or event.task.region, self.group, stream)


class NetworkConfig(msgspec.Struct, frozen=True):
    """What RunTask needs to relaunch an awsvpc task; the stopped task's event does not carry it."""

    subnets: tuple[str, ...]
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False

    def run_task_network_configuration(self) -> dict[str, Any]:
        """RunTask's ``networkConfiguration`` parameter."""
        awsvpc: dict[str, Any] = {
            "subnets": list(self.subnets),
            "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
        }
        if self.security_groups:
            awsvpc["securityGroups"] = list(self.security_groups)
        return {"awsvpcConfiguration": awsvpc}


class SlowRunConfig(msgspec.Struct, frozen=True):
    """When a successful run counts as slow: its run time is more than ``factor`` times the median
    of the job's recent successful runs (see ``ecswatch.history.records``). Datadog always hears of it; the
    job's Slack channel only when ``notify_slack`` is set."""

    factor: float = 2.0
    notify_slack: bool = False


#: What ``launch.task_definition`` and ``launch.cluster`` may be: a name, or its ARN.
TASK_DEFINITION_SHAPE = re.compile(
    r"(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/)?(?P<family>[A-Za-z0-9_-]{1,255})(?::\d+)?"
)
CLUSTER_SHAPE = re.compile(
    r"(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/)?(?P<name>[A-Za-z0-9_-]{1,255})"
)

#: RunTask's limit on the ``overrides`` JSON, formatting characters included.
MAX_OVERRIDES_CHARACTERS = 8192


class CapacityProviderItem(msgspec.Struct, frozen=True):
    """One entry of RunTask's ``capacityProviderStrategy``."""

    capacity_provider: str
    weight: int = 1
    base: int = 0


class ContainerOverride(msgspec.Struct, frozen=True):
    """A container's command and extra environment for runs a chain starts (RunTask ``overrides``)."""

    name: str
    command: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()


class LaunchConfig(msgspec.Struct, frozen=True):
    """How to start a run of the job from nothing: what a dependency chain's RunTask needs.

    A retry copies the stopped task's own parameters from its event; a run that a chain starts
    has no earlier task to copy, so the job says here what to run and where. The network comes
    from the job's ``network`` key, as for retries.
    """

    task_definition: str  # family, family:revision or ARN; a bare family runs the latest ACTIVE revision
    cluster: str
    launch_type: str | None = None
    capacity_provider_strategy: tuple[CapacityProviderItem, ...] = ()
    platform_version: str | None = None
    group: str | None = None
    container_overrides: tuple[ContainerOverride, ...] = ()
    propagate_tags: str = "TASK_DEFINITION"

    @property
    def family(self) -> str | None:
        """The task definition's family (of a family, family:revision or ARN); None if malformed."""
        found = TASK_DEFINITION_SHAPE.fullmatch(self.task_definition)
        return found["family"] if found else None

    @property
    def cluster_name(self) -> str | None:
        """The cluster's name (of a name or ARN); None if malformed."""
        found = CLUSTER_SHAPE.fullmatch(self.cluster)
        return found["name"] if found else None

    @property
    def is_fargate(self) -> bool:
        providers = {item.capacity_provider for item in self.capacity_provider_strategy}
        return self.launch_type == "FARGATE" or bool(providers & FARGATE_CAPACITY_PROVIDERS)

    def run_task_capacity_provider_strategy(self) -> list[dict[str, Any]]:
        return [
            {"capacityProvider": item.capacity_provider, "weight": item.weight, "base": item.base}
            for item in self.capacity_provider_strategy
        ]

    def run_task_overrides(self) -> dict[str, Any]:
        """RunTask's ``overrides`` parameter; empty when the job overrides nothing."""
        containers: list[dict[str, Any]] = []
        for override in self.container_overrides:
            container: dict[str, Any] = {"name": override.name}
            if override.command is not None:
                container["command"] = list(override.command)
            if override.environment:
                container["environment"] = [{"name": k, "value": v} for k, v in override.environment]
            containers.append(container)
        return {"containerOverrides": containers} if containers else {}


class JobConfig(msgspec.Struct, frozen=True):
    name: str
    match: MatchRule
    slack_channel: str
    notify_on_success: bool
    retry: RetryPolicy
    max_run_time_seconds: int | None = None
    #: The watchdog stops a run that exceeds max_run_time (StopTask), instead of only alerting.
    stop_on_overrun: bool = False
    #: How long a task may wait to start (PROVISIONING/PENDING) before the watchdog alerts;
    #: None: the deployment's WATCHDOG_STUCK_START_SECONDS.
    max_start_time_seconds: int | None = None
    #: ``cron(...)`` or ``rate(...)`` as EventBridge writes it; kept as text.
    schedule: str | None = None
    log: LogOverride | None = None
    network: NetworkConfig | None = None
    slow_run: SlowRunConfig = msgspec.field(default_factory=SlowRunConfig)
    #: Dependency chains: jobs started when a run of this job ends for good (after its retries),
    #: as it succeeded or failed; and how a chain starts this job.
    on_success: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    launch: LaunchConfig | None = None
    #: Container names of this job's own sidecars (agents, proxies, log routers): like the known
    #: agents, they never decide a run's outcome; an essential container that is not one does.
    sidecars: tuple[str, ...] = ()
    #: False for a task no job matches: it gets the defaults, named after its family.
    configured: bool = True

    def run_task_network(self) -> dict[str, Any] | None:
        """RunTask's networkConfiguration from the job's ``network``, if it has one."""
        return self.network.run_task_network_configuration() if self.network is not None else None


class JobDefaults(msgspec.Struct, frozen=True):
    slack_channel: str = DEFAULT_SLACK_CHANNEL
    notify_on_success: bool = False
    retry: RetryPolicy = msgspec.field(default_factory=RetryPolicy)


class JobsConfig(msgspec.Struct, frozen=True):
    source: str
    defaults: JobDefaults = msgspec.field(default_factory=JobDefaults)
    jobs: tuple[JobConfig, ...] = ()

    def match(self, event: TaskEvent) -> JobConfig | None:
        """The first job, in file order, whose match rules all hold."""
        return next((job for job in self.jobs if job.match.matches(event)), None)

    def job_for(self, event: TaskEvent) -> JobConfig:
        """The matching job, or the defaults under the family's name: unknown tasks still get alerts."""
        return self.match(event) or self.default_job(event.task_definition.family)

    def default_job(self, family: str) -> JobConfig:
        """What a task (or a launch) of no configured job gets: the defaults, under its family's name."""
        return JobConfig(
            name=family,
            match=MatchRule(family=family),
            slack_channel=self.defaults.slack_channel,
            notify_on_success=self.defaults.notify_on_success,
            retry=self.defaults.retry,
            configured=False,
        )

    def job(self, name: str) -> JobConfig | None:
        return next((job for job in self.jobs if job.name == name), None)

    def routing(self, job_name: str) -> Routing:
        job = self.job(job_name)
        if job is None:
            return Routing(
                channel=self.defaults.slack_channel, notify_success=self.defaults.notify_on_success
            )
        return Routing(channel=job.slack_channel, notify_success=job.notify_on_success)


# --------------------------------------------------------------------------- matching


def launch_matches(rule: MatchRule, attempt: LaunchAttempt) -> bool:
    """:meth:`MatchRule.matches` for a launch: globs over family, cluster name, group and startedBy.

    When the request was not recorded, only the family can be compared: the other fields
    are unknown, and an unknown value is not held against a rule. With no family there is
    nothing to match on.
    """
    if attempt.family is None:
        return False
    checks: tuple[tuple[str | None, str | None], ...] = ((rule.family, attempt.family),)
    if attempt.request_recorded:
        checks += (
            (rule.cluster, attempt.cluster),
            (rule.group, attempt.group),
            (rule.started_by, attempt.started_by),
        )
    return all(pattern is None or fnmatchcase(value or "", pattern) for pattern, value in checks)


def matching_job(config: JobsConfig, attempt: LaunchAttempt) -> JobConfig | None:
    """The first job, in file order, whose match rules all hold for this launch."""
    return next((job for job in config.jobs if launch_matches(job.match, attempt)), None)
