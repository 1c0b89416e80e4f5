"""The one place that turns settings into real adapters (the composition root).

Handlers call :func:`build_dependencies` once per container; nothing here
touches the network until an adapter is first used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools import Metrics

from common.adapters.aws import CloudWatchLogReader, EcsTaskDefinitions
from common.adapters.clients import ClientCache
from common.adapters.observability import EmfSink, LogSink
from common.ports import RunSink
from common.settings import Settings


@dataclass
class Dependencies:
    settings: Settings
    clients: ClientCache
    task_definitions: EcsTaskDefinitions
    logs: CloudWatchLogReader
    sinks: list[RunSink] = field(default_factory=list)


def build_dependencies(
    settings: Settings, *, metrics: Metrics | None = None, clients: ClientCache | None = None
) -> Dependencies:
    clients = clients or ClientCache()
    sinks: list[RunSink] = [LogSink()]
    if metrics is not None:
        sinks.append(EmfSink(metrics))
    return Dependencies(
        settings=settings,
        clients=clients,
        task_definitions=EcsTaskDefinitions(lambda region: clients.get("ecs", region)),
        logs=CloudWatchLogReader(lambda region: clients.get("logs", region)),
        sinks=sinks,
    )
