"""A request to launch one more attempt of a run: everything RunTask needs, as plain data.

It travels as an SQS message body (delays up to 15 minutes) or an EventBridge
Scheduler one-time schedule's input (longer delays), so it serialises to JSON
and back without loss. It is built from the stopped task's event (the event
carries cluster, task definition revision, overrides, launch type or capacity
provider, platform version and group) plus what the event does not carry: the
network configuration (job config, or the EventBridge rule that started it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from common.model import TaskEvent

#: startedBy of tasks ecswatch launches (RunTask allows 128 characters; the attempt follows).
STARTED_BY_PREFIX = "ecswatch-retry"


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
    #: "policy" for automatic retries, "manual" for `ecswatch retry`.
    trigger: str = "policy"

    @property
    def key(self) -> str:
        """One launch per root run and attempt, whoever asks twice."""
        return f"{self.root_task_arn}#{self.attempt}"

    @property
    def client_token(self) -> str:
        """RunTask's idempotency token (up to 64 characters): the same request never starts two tasks."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:64]

    @property
    def started_by(self) -> str:
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
    ) -> RetryRequest:
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
        )
