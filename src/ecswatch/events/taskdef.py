"""What ecswatch needs from a task definition: which containers are essential and where they log.

Task definition revisions are immutable, so a parsed :class:`TaskDefinition` can
be cached for the life of a Lambda container keyed by its ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


class LogConfig(msgspec.Struct, frozen=True):
    driver: str
    options: Mapping[str, str] = msgspec.field(default_factory=dict)

    @property
    def is_awslogs(self) -> bool:
        return self.driver == "awslogs"


class ContainerDefinition(msgspec.Struct, frozen=True):
    name: str
    image: str
    essential: bool
    log: LogConfig | None
    is_firelens_router: bool = False


class TaskDefinition(msgspec.Struct, frozen=True):
    arn: str
    family: str
    revision: int
    containers: tuple[ContainerDefinition, ...]
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    network_mode: str | None = None

    def container(self, name: str) -> ContainerDefinition | None:
        return next((c for c in self.containers if c.name == name), None)

    @property
    def essential_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.containers if c.essential)


def parse_task_definition(raw: Mapping[str, Any]) -> TaskDefinition:
    """Read ``DescribeTaskDefinition()['taskDefinition']``. ``essential`` defaults to true, as in ECS."""
    containers = tuple(_container_definition(c) for c in raw.get("containerDefinitions") or [])
    return TaskDefinition(
        arn=str(raw.get("taskDefinitionArn", "")),
        family=str(raw.get("family", "")),
        revision=int(raw.get("revision", 0)),
        containers=containers,
        task_role_arn=raw.get("taskRoleArn"),
        execution_role_arn=raw.get("executionRoleArn"),
        network_mode=raw.get("networkMode"),
    )


def _container_definition(raw: Mapping[str, Any]) -> ContainerDefinition:
    log_raw = raw.get("logConfiguration")
    log = None
    if isinstance(log_raw, Mapping) and log_raw.get("logDriver"):
        options = {str(k): str(v) for k, v in (log_raw.get("options") or {}).items()}
        log = LogConfig(driver=str(log_raw["logDriver"]), options=options)
    return ContainerDefinition(
        name=str(raw.get("name", "")),
        image=str(raw.get("image", "")),
        essential=bool(raw.get("essential", True)),
        log=log,
        is_firelens_router=raw.get("firelensConfiguration") is not None,
    )
