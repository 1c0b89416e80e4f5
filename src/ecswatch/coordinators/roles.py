"""The coordinators wired together: the task-run, failed-launch and launcher roles around one chain
starter. The factory wires them around real adapters, the tests around fakes, through this one
function, so both see the same graph."""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgspec

from ecswatch.config.model import JobsConfig
from ecswatch.coordinators.chain_starts import ChainStarter
from ecswatch.coordinators.failed_launches import FailedLaunchCoordinator
from ecswatch.coordinators.launcher import Launcher
from ecswatch.coordinators.task_runs import TaskRunCoordinator
from ecswatch.history.records import HistoryRecorder
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import (
    LineageStore,
    NetworkDiscovery,
    OnceGuard,
    RetryScheduler,
    RunSink,
    TaskReader,
    TaskRunner,
)


class Roles(msgspec.Struct, frozen=True):
    """The task-run, failed-launch and launcher coordinators, sharing one chain starter."""

    runs: TaskRunCoordinator
    launches: FailedLaunchCoordinator
    launcher: Launcher


def wire_roles(
    *,
    notifier: Notifier,
    guard: OnceGuard,
    lineage: LineageStore,
    jobs: JobsConfig,
    queue: RetryScheduler | None,
    runner: TaskRunner,
    network: NetworkDiscovery | None = None,
    history: HistoryRecorder | None = None,
    sinks: Sequence[RunSink] = (),
    tasks: TaskReader | None = None,
    rng: random.Random | None = None,
) -> Roles:
    """``queue`` None: retries and chained jobs are decided and told, never scheduled."""
    chains = ChainStarter(notifier=notifier, guard=guard, jobs=jobs, scheduler=queue)
    runs = TaskRunCoordinator(
        notifier=notifier,
        guard=guard,
        lineage=lineage,
        jobs=jobs,
        chains=chains,
        scheduler=queue,
        network=network,
        history=history,
        sinks=sinks,
        rng=rng,
    )
    launches = FailedLaunchCoordinator(
        notifier=notifier, guard=guard, jobs=jobs, chains=chains, scheduler=queue, history=history, rng=rng
    )
    launcher = Launcher(
        notifier=notifier,
        guard=guard,
        lineage=lineage,
        jobs=jobs,
        chains=chains,
        runner=runner,
        tasks=tasks,
        network=network,
    )
    return Roles(runs=runs, launches=launches, launcher=launcher)
