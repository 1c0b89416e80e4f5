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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ecswatch.analysis.failed_launch import FailedLaunch
from ecswatch.config.model import JobConfig
from ecswatch.events.task import TaskDefinitionRef, TaskEvent
from ecswatch.events.vocabulary import CHAIN_TRIGGER
from ecswatch.run import ChainLink, RetryRequest

if TYPE_CHECKING:
    from ecswatch.config.model import JobConfig


#: Recorded RunTask parameters a retry sends again beyond those a task event also carries.
_REPEATED = ("placementConstraints", "placementStrategy", "enableExecuteCommand", "tags")


def request_from_event(
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
    return RetryRequest(
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


def request_from_job(
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
    return RetryRequest(
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


def retry_request_for_launch(
    failed: FailedLaunch, job: JobConfig, *, attempt: int, of: int, network: Mapping[str, Any] | None
) -> RetryRequest | None:
    """The same RunTask call again, or None when the record does not say enough to repeat it.

    The record's ``requestParameters`` is RunTask's own request: cluster, task definition,
    launch type or capacity provider, platform version, group, overrides and network are
    sent again as they were. The job's configured network wins over the recorded one.
    """
    launch, request = failed.launch, failed.launch.request
    if request is None or launch.task_definition is None:
        return None
    task_definition = (
        launch.task_definition.arn
        if isinstance(launch.task_definition, TaskDefinitionRef)
        else launch.task_definition
    )
    recorded_network = request.get("networkConfiguration")
    overrides = request.get("overrides")
    return RetryRequest(
        job=failed.job,
        root_task_arn=failed.run_id,
        previous_task_arn=failed.run_id,
        attempt=attempt,
        of=of,
        region=launch.region,
        cluster=launch.cluster or "default",
        task_definition_arn=task_definition,
        launch_type=launch.launch_type,
        capacity_provider=launch.capacity_providers[0] if launch.capacity_providers else None,
        capacity_provider_strategy=_list_of_mappings(request.get("capacityProviderStrategy")),
        propagate_tags=_str_or_none(request.get("propagateTags")) or "TASK_DEFINITION",
        platform_version=_str_or_none(request.get("platformVersion")),
        group=_str_or_none(request.get("group")),
        overrides=dict(overrides) if isinstance(overrides, Mapping) else {},
        network_configuration=network
        or (dict(recorded_network) if isinstance(recorded_network, Mapping) else None),
        reason=f"launch failed: {failed.cause}",
        run_task_extras={key: request[key] for key in _REPEATED if request.get(key) is not None},
    )


def _list_of_mappings(value: object) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        return None
    return [dict(item) for item in value] or None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
