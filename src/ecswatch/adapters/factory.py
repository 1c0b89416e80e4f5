"""The one place that turns settings into real adapters (the composition root).

Handlers call :func:`build_dependencies` once per container. Nothing here
touches the network until an adapter is first used, and the Slack and Datadog
SDKs are imported only when those sinks are configured, so a cold start pays
only for what the deployment uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics

from ecswatch.adapters.aws.clients import ClientCache
from ecswatch.adapters.aws.ecs_runner import (
    EcsTaskRunner,
    RuleNetworkDiscovery,
    ScheduleNetworkDiscovery,
    StartedByNetworkDiscovery,
)
from ecswatch.adapters.aws.reads import CloudWatchLogReader, EcsTaskDefinitions
from ecswatch.adapters.aws.retry_scheduler import RetryQueueScheduler
from ecswatch.adapters.dynamodb.history import DynamoRunHistory, MemoryRunHistory
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard, PowertoolsOnceGuard
from ecswatch.adapters.dynamodb.state import DynamoNotificationState, MemoryLineage
from ecswatch.adapters.observability import EmfSink, LogSink
from ecswatch.budget import Budget
from ecswatch.config.compiled import load_jobs
from ecswatch.config.model import JobsConfig
from ecswatch.config.routing import Routing
from ecswatch.config.settings import Settings
from ecswatch.coordinators.launcher import Launcher
from ecswatch.coordinators.roles import wire_roles
from ecswatch.coordinators.task_events import TaskEvents
from ecswatch.coordinators.task_runs import TaskRunCoordinator
from ecswatch.history.records import HistoryRecorder
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import ChatPoster, EventSink, LineageStore, NetworkDiscovery, OnceGuard, RunSink

if TYPE_CHECKING:
    from ecswatch.adapters.secrets import SecretStores
    from ecswatch.watchdog.service import Watchdog


@dataclass
class Dependencies:
    settings: Settings
    clients: ClientCache
    task_definitions: EcsTaskDefinitions
    logs: CloudWatchLogReader
    notifier: Notifier
    jobs: JobsConfig
    #: The task-events function's entry point: task state changes and failed launches.
    task_events: TaskEvents
    #: The retry launcher function's entry point: retries, chained jobs, manual retries.
    launcher: Launcher
    #: The coordinator behind ``task_events`` that handles each run report.
    task_runs: TaskRunCoordinator
    #: The retry queue, when retries are configured (the launcher sets its backoff through it).
    retry_queue: RetryQueueScheduler | None = None
    #: Sinks that see every delivery (the structured log line); the notifier de-duplicates the rest.
    #: The task-run coordinator holds the same list: a sink appended here sees the reports too.
    sinks: list[RunSink] = field(default_factory=list)
    #: The time the current invocation has left; the handler restarts it, the Slack adapter heeds it.
    budget: Budget = field(default_factory=Budget)


def build_dependencies(
    settings: Settings, *, metrics: Metrics | None = None, clients: ClientCache | None = None
) -> Dependencies:
    """Retries need the state table (lineage) and the retry queue; without them runs are only reported."""
    clients = clients or ClientCache()
    jobs = load_jobs(settings.jobs_config_path)  # a bad file raises ConfigError naming file, job, field
    table = settings.state_table_name
    budget = Budget()
    guard: OnceGuard = (
        PowertoolsOnceGuard(table, clients.lazy("dynamodb"), budget=budget) if table else MemoryOnceGuard()
    )
    stores = build_secret_stores(settings, clients)
    notifier = build_notifier(
        settings, clients, jobs, guard=guard, metrics=metrics, budget=budget, stores=stores
    )
    runner = EcsTaskRunner(lambda region: clients.get("ecs", region))
    retry_queue = build_retry_queue(settings, clients)
    recorder = build_recorder(settings, clients, jobs, guard=guard, notifier=notifier, stores=stores)
    lineage = build_lineage(settings, clients)
    network = build_network_discovery(clients)
    sinks: list[RunSink] = [LogSink()]
    task_definitions = EcsTaskDefinitions(lambda region: clients.get("ecs", region))
    logs = CloudWatchLogReader(lambda region: clients.get("logs", region))
    roles = wire_roles(
        notifier=notifier,
        guard=guard,
        lineage=lineage,
        jobs=jobs,
        queue=retry_queue,
        runner=runner,
        network=network,
        history=recorder,
        sinks=sinks,
        tasks=runner,
    )
    return Dependencies(
        settings=settings,
        clients=clients,
        task_definitions=task_definitions,
        logs=logs,
        notifier=notifier,
        jobs=jobs,
        task_events=TaskEvents(
            settings=settings,
            jobs=jobs,
            task_definitions=task_definitions,
            logs=logs,
            runs=roles.runs,
            launches=roles.launches,
        ),
        launcher=roles.launcher,
        task_runs=roles.runs,
        retry_queue=retry_queue,
        sinks=sinks,
        budget=budget,
    )


def build_notifier(
    settings: Settings,
    clients: ClientCache,
    jobs: JobsConfig,
    *,
    guard: OnceGuard,
    metrics: Metrics | None = None,
    budget: Budget | None = None,
    stores: SecretStores | None = None,
) -> Notifier:
    table = settings.state_table_name
    state = DynamoNotificationState(clients.lazy("dynamodb"), table) if table else None
    return Notifier(
        guard=guard,
        routing=lambda job: _routing(settings, jobs, job),
        chat=build_chat(settings, budget=budget, stores=stores),
        events=build_events(settings, stores=stores),
        state=state,
        storm_window_seconds=settings.storm_window_seconds,
        budget=budget,
        metrics=[
            EmfSink(
                namespace=metrics.namespace or "ecswatch",
                service=metrics.service or "ecswatch",
                jobs=[job.name for job in jobs.jobs],
            )
        ]
        if metrics is not None
        else [],
    )


def build_lineage(settings: Settings, clients: ClientCache) -> LineageStore:
    """Which run and attempt a task ecswatch launched belongs to: on the state table, else in memory."""
    table = settings.state_table_name
    return DynamoNotificationState(clients.lazy("dynamodb"), table) if table else MemoryLineage()


def build_network_discovery(clients: ClientCache) -> NetworkDiscovery:
    """The network of the EventBridge rule or Scheduler schedule that started a task."""
    return StartedByNetworkDiscovery(
        RuleNetworkDiscovery(lambda region: clients.get("events", region)),
        ScheduleNetworkDiscovery(lambda region: clients.get("scheduler", region)),
    )


def build_retry_queue(settings: Settings, clients: ClientCache) -> RetryQueueScheduler | None:
    if not settings.retry_queue_url:
        return None
    return RetryQueueScheduler(
        clients.lazy("sqs"),
        settings.retry_queue_url,
        scheduler_client=clients.lazy("scheduler") if settings.retry_scheduler_role_arn else None,
        scheduler_role_arn=settings.retry_scheduler_role_arn or None,
        queue_arn=settings.retry_queue_arn or None,
        dead_letter_arn=settings.retry_dlq_arn or None,
    )


def build_recorder(
    settings: Settings,
    clients: ClientCache,
    jobs: JobsConfig,
    *,
    guard: OnceGuard,
    notifier: Notifier,
    stores: SecretStores | None = None,
) -> HistoryRecorder:
    """History on the state table (in memory without one). Its Datadog sink is its own instance:
    it only ever sends slow-run events, and builds no client until one is sent."""
    table = settings.state_table_name
    history: DynamoRunHistory | MemoryRunHistory = (
        DynamoRunHistory(clients.lazy("dynamodb"), table, retention_days=settings.history_retention_days)
        if table
        else MemoryRunHistory()
    )
    return HistoryRecorder(
        history=history,
        jobs=jobs,
        guard=guard,
        events=build_events(settings, stores=stores),
        notifier=notifier,
        lookback=timedelta(days=settings.history_retention_days),
    )


def build_secret_stores(settings: Settings, clients: ClientCache) -> SecretStores | None:
    """One set of secret providers per container, on its clients' session (see
    :mod:`ecswatch.adapters.secrets`); None when no secret is configured, so nothing is imported."""
    if not (
        settings.slack_token_parameter
        or settings.slack_webhook_parameter
        or settings.datadog_api_key_parameter
    ):
        return None
    from ecswatch.adapters.secrets import SecretStores

    return SecretStores(clients.get)


def build_chat(
    settings: Settings, *, budget: Budget | None = None, stores: SecretStores | None = None
) -> ChatPoster | None:
    if not (settings.slack_token_parameter or settings.slack_webhook_parameter):
        return None
    from ecswatch.adapters.secrets import secret_provider
    from ecswatch.adapters.slack import SlackPoster

    max_age = settings.secrets_max_age_seconds
    if settings.slack_token_parameter:
        return SlackPoster(
            token=secret_provider(settings.slack_token_parameter, max_age, stores),
            base_url=settings.slack_api_url or None,
            budget=budget,
        )
    return SlackPoster(
        webhook_url=secret_provider(settings.slack_webhook_parameter, max_age, stores), budget=budget
    )


def build_events(settings: Settings, *, stores: SecretStores | None = None) -> EventSink | None:
    if not settings.datadog_api_key_parameter:
        return None
    from ecswatch.adapters.datadog import DatadogSink
    from ecswatch.adapters.secrets import secret_provider

    return DatadogSink(
        api_key=secret_provider(settings.datadog_api_key_parameter, settings.secrets_max_age_seconds, stores),
        site=settings.datadog_site,
        host=settings.datadog_api_url or None,
        max_retries=2,  # the SDK backs off 0/4/8 s; more would eat the function's 60 s timeout
    )


def _routing(settings: Settings, jobs: JobsConfig, job: str) -> Routing:
    """Configured jobs follow the config; tasks of no configured job go to the deployment's
    SLACK_DEFAULT_CHANNEL (the template's SlackDefaultChannel parameter)."""
    if jobs.job(job) is not None:
        return jobs.routing(job)
    return Routing(channel=settings.slack_default_channel, notify_success=jobs.defaults.notify_on_success)


# --------------------------------------------------------------------------- watchdog


def build_watchdog(
    settings: Settings, *, metrics: Metrics | None = None, clients: ClientCache | None = None
) -> Watchdog:
    """The watchdog function's object graph, once per container. Missed runs need the state table
    (run history, and since when each job is watched); without one only tasks are checked."""
    # The watchdog's own adapters: imported here, so the other functions' cold starts skip them.
    from ecswatch.adapters.aws.ecs_watch import AwsScheduleFinder, EcsLiveTasks
    from ecswatch.adapters.dynamodb.watchdog_state import DynamoWatchdogState
    from ecswatch.watchdog.service import Watchdog, WatchdogOptions

    clients = clients or ClientCache()
    jobs = load_jobs(settings.jobs_config_path)
    table = settings.state_table_name
    guard: OnceGuard = PowertoolsOnceGuard(table, clients.lazy("dynamodb")) if table else MemoryOnceGuard()

    def ecs(region: str | None) -> Any:
        return clients.get("ecs", region)

    return Watchdog(
        jobs=jobs,
        live=EcsLiveTasks(ecs, clusters=sorted(settings.watch_clusters)),
        notifier=build_notifier(
            settings,
            clients,
            jobs,
            guard=guard,
            metrics=metrics,
            stores=build_secret_stores(settings, clients),
        ),
        guard=guard,
        options=WatchdogOptions(
            stuck_start_seconds=settings.watchdog_stuck_start_seconds,
            missed_run_grace_seconds=settings.watchdog_missed_run_grace_seconds,
            include_service_tasks=settings.include_service_tasks,
        ),
        task_definitions=EcsTaskDefinitions(ecs),
        schedules=AwsScheduleFinder(clients.lazy("events"), clients.lazy("scheduler")),
        history=(
            DynamoRunHistory(clients.lazy("dynamodb"), table, retention_days=settings.history_retention_days)
            if table
            else None
        ),
        state=DynamoWatchdogState(clients.lazy("dynamodb"), table) if table else None,
        lineage=DynamoNotificationState(clients.lazy("dynamodb"), table) if table else None,
    )
