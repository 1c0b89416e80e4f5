"""A request to launch one more attempt of a run: everything RunTask needs, as plain data.

It travels as an SQS message body (delays up to 15 minutes) or an EventBridge
Scheduler one-time schedule's input (longer delays), so it serialises to JSON
and back without loss. It is built from the stopped task's event (the event
carries cluster, task definition revision, overrides, launch type or capacity
provider, platform version and group) plus what the event does not carry: the
network configuration (job config, or the EventBridge rule that started it).

A dependency chain uses the same request, the same queue and the same launcher to start
the next job (``trigger`` "chain", :meth:`RetryRequest.from_job`): there is no stopped task
of that job to copy, so its parameters come from the job's ``launch`` and ``network`` config.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ecswatch.events.task import TaskEvent

if TYPE_CHECKING:
    from ecswatch.config.model import JobConfig
    from ecswatch.notifications.alerts import ChainLink

#: startedBy of tasks ecswatch launches (RunTask allows 128 characters; the attempt follows).
STARTED_BY_PREFIX = "ecswatch-retry"
#: startedBy of tasks a dependency chain starts; the job whose run started them follows.
CHAIN_STARTED_BY_PREFIX = "ecswatch-chain"
#: ``trigger`` of a request that starts the next job of a chain (attempt 1 of another job).
CHAIN_TRIGGER = "chain"
#: ECS keeps 36 characters of startedBy, of letters, digits, "-", "_" and "/".
_STARTED_BY_KEPT = 36
_NOT_STARTED_BY = re.compile(r"[^A-Za-z0-9_/-]")


def launched_by_ecswatch(started_by: str | None) -> bool:
    """Tasks the retry launcher started (retries, manual retries, chained jobs) say so in startedBy."""
    return (started_by or "").startswith((STARTED_BY_PREFIX + "/", CHAIN_STARTED_BY_PREFIX + "/"))


@dataclass(frozen=True)
class RetryRequest:
    job: str
    root_task_arn: str
    previous_task_arn: str
    #: The attempt this request launches (2 for the first retry) and the most there will be.
    attempt: int
    of: int
    region: str
    cluster: str
    task_definition_arn: str
    launch_type: str | None = None
    capacity_provider: str | None = None
    platform_version: str | None = None
    group: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    network_configuration: Mapping[str, Any] | None = None
    reason: str = ""
    #: "policy" for automatic retries, "manual" for `ecswatch retry`, "chain" for a dependency chain.
    trigger: str = "policy"
    #: RunTask's capacityProviderStrategy as the job config gives it (chains); wins over the above.
    capacity_provider_strategy: Sequence[Mapping[str, Any]] | None = None
    propagate_tags: str = "TASK_DEFINITION"
    #: The chain the launched run belongs to (``Lineage.chain_id``), carried through its retries.
    chain_id: str | None = None
    triggered_by: str | None = None
    triggered_by_job: str | None = None
    #: RunTask parameters no task event carries, sent again as recorded: a failed launch's
    #: placementConstraints, placementStrategy, enableExecuteCommand and its own tags.
    run_task_extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """One launch per root run and attempt, whoever asks twice.

        A chain request starts ``job`` after the run whose root is ``root_task_arn``: once per
        (that run, job), however often that run's final stop is delivered or retried.
        """
        if self.trigger == CHAIN_TRIGGER:
            return chain_key(self.root_task_arn, self.job)
        return f"{self.root_task_arn}#{self.attempt}"

    @property
    def client_token(self) -> str:
        """RunTask's idempotency token (up to 64 characters): the same request never starts two tasks."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:64]

    @property
    def started_by(self) -> str:
        if self.trigger == CHAIN_TRIGGER:
            cleaned = _NOT_STARTED_BY.sub("_", self.triggered_by_job or "")
            return f"{CHAIN_STARTED_BY_PREFIX}/{cleaned}"[:_STARTED_BY_KEPT]
        return f"{STARTED_BY_PREFIX}/{self.attempt}"[:128]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> RetryRequest:
        data = json.loads(text) if isinstance(text, str | bytes) else dict(text)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"retry request has unknown fields: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_event(
        cls,
        event: TaskEvent,
        *,
        job: str,
        root_task_arn: str,
        attempt: int,
        of: int,
        network_configuration: Mapping[str, Any] | None,
        reason: str,
        trigger: str = "policy",
        chain: ChainLink | None = None,
    ) -> RetryRequest:
        """The next attempt of the run ``event`` stopped; a chained run's attempts stay in its chain."""
        return cls(
            job=job,
            root_task_arn=root_task_arn,
            previous_task_arn=event.task.arn,
            attempt=attempt,
            of=of,
            region=event.task.region,
            cluster=event.task.cluster or "default",
            task_definition_arn=event.task_definition.arn,
            launch_type=event.launch_type,
            capacity_provider=event.capacity_provider,
            platform_version=event.platform_version,
            group=event.group,
            overrides=dict(event.raw_overrides),
            network_configuration=network_configuration,
            reason=reason,
            trigger=trigger,
            chain_id=chain.chain_id if chain else None,
            triggered_by=chain.triggered_by if chain else None,
            triggered_by_job=chain.triggered_by_job if chain else None,
        )

    @classmethod
    def from_job(
        cls,
        job: JobConfig,
        *,
        after_run: str,
        region: str,
        root_task_arn: str,
        after_job: str,
        chain_id: str,
        reason: str,
    ) -> RetryRequest:
        """Attempt 1 of ``job``, started by a dependency chain when a run of ``after_job`` (root
        ``root_task_arn``) ended for good with ``after_run``: its last task's ARN, or the
        ``launch:<eventID>`` of a launch that created none. Everything RunTask needs comes from
        the job's config; only the region is the ended run's.
        """
        launch = job.launch
        if launch is None:
            raise ValueError(f"job {job.name} has no launch section, so a chain cannot start it")
        return cls(
            job=job.name,
            root_task_arn=root_task_arn,
            previous_task_arn=after_run,
            attempt=1,
            of=job.retry.attempts,
            region=region,
            cluster=launch.cluster,
            task_definition_arn=launch.task_definition,
            launch_type=launch.launch_type,
            platform_version=launch.platform_version,
            group=launch.group,
            overrides=launch.run_task_overrides(),
            network_configuration=job.run_task_network(),
            reason=reason,
            trigger=CHAIN_TRIGGER,
            capacity_provider_strategy=launch.run_task_capacity_provider_strategy() or None,
            propagate_tags=launch.propagate_tags,
            chain_id=chain_id,
            triggered_by=after_run,
            triggered_by_job=after_job,
        )


def chain_key(root_task_arn: str, job: str) -> str:
    """``chain#<root run of the job that ended>#<job to start>``: the once-key of one chain link."""
    return f"chain#{root_task_arn}#{job}"
