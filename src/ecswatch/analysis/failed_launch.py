"""A RunTask call that created no task, as a run of its job: the report, the alert, the retry request.

A failed launch has no task, so none of the task-event machinery applies as is: there
is no task ARN, no exit code, no log stream. It still is a failed run of its job for
on-call and for ecswatch: it is alerted through the same Slack/Datadog path (and joins
the job's failure storm), retried under the job's retry policy (a launch failure is
retryable unless the same request must fail again), and recorded in the run history.

Its run id is ``launch:<CloudTrail eventID>``: unique per call, stable across
redeliveries of the record, and the key of its Slack thread and its retries' lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecswatch.analysis.links import task_definition_url
from ecswatch.analysis.pipeline import Skipped
from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.config.settings import Settings
from ecswatch.events.cloudtrail import (
    LaunchAttempt,
    cloudtrail_event_url,
    failure_kind,
    is_ecswatch_launch,
    is_retryable_launch,
    launch_cause,
    launcher,
    launcher_url,
    matching_job,
    parse_launch,
)
from ecswatch.events.task import TaskDefinitionRef
from ecswatch.notifications.alerts import METRIC_PREFIX, Alert, Attempt, DatadogEvent, Link, MetricPoint
from ecswatch.ports import RunRecord
from ecswatch.retries.request import RetryRequest

#: ``RunRecord.outcome`` and the Datadog ``outcome`` tag of a launch that created no task.
FAILED_TO_LAUNCH = "failed_to_launch"
RUN_ID_PREFIX = "launch:"
#: Recorded RunTask parameters a retry sends again beyond those a task event also carries.
_REPEATED = ("placementConstraints", "placementStrategy", "enableExecuteCommand", "tags")
#: RunRecord link names (as ecswatch.history.records names a task's: task, task_definition, logs, insights).
_LINK_KEYS = {
    "CloudTrail event": "cloudtrail",
    "EventBridge rule": "rule",
    "Task definition": "task_definition",
}


@dataclass(frozen=True)
class FailedLaunch:
    """One failed RunTask call, matched to its job and judged."""

    launch: LaunchAttempt
    job: str
    cause: str
    retryable: bool
    launched_by: str

    @property
    def run_id(self) -> str:
        return f"{RUN_ID_PREFIX}{self.launch.event_id}"

    @property
    def key(self) -> str:
        """Duplicates of one CloudTrail record share it (as ``RunReport.key`` does for task events)."""
        return f"{self.run_id}#failed"

    @property
    def happened_at(self) -> datetime:
        return self.launch.event_time


def process_launch_event(
    raw: Mapping[str, Any], *, settings: Settings, jobs: JobsConfig
) -> FailedLaunch | Skipped:
    """Raise ``MalformedEvent`` for an unreadable record; a successful call is skipped cheaply."""
    launch = parse_launch(raw)
    if not launch.failed:
        return Skipped("RunTask succeeded; its task reports itself", kind="launch-succeeded")
    if is_ecswatch_launch(launch):
        # The retry launcher saw RunTask's answer itself and has already alerted (or will retry).
        return Skipped("ecswatch's own launch; the retry launcher reports it", kind="own-launch")
    if launch.cluster is not None and not settings.watches(launch.cluster):
        return Skipped(f"cluster {launch.cluster!r} is not watched", kind="cluster")
    return FailedLaunch(
        launch=launch,
        job=job_for_launch(jobs, launch).name,
        cause=launch_cause(launch),
        retryable=is_retryable_launch(launch),
        launched_by=launcher(launch),
    )


def job_for_launch(jobs: JobsConfig, launch: LaunchAttempt) -> JobConfig:
    """As :meth:`JobsConfig.job_for`: the matching job, or the defaults under the family's name."""
    return matching_job(jobs, launch) or jobs.default_job(launch.family or "unknown-task-definition")


# --------------------------------------------------------------------------- what people see


def launch_alert(failed: FailedLaunch, attempt: Attempt) -> Alert:
    launch = failed.launch
    title = f"{failed.job} failed to launch"
    if attempt.of > 1:
        title += f" (attempt {attempt.label})"
    fields = (
        ("Cluster", launch.cluster or "unknown (request not recorded)"),
        ("Task definition", _task_definition_label(launch)),
        ("Launched by", failed.launched_by),
        ("When", _when(failed.happened_at)),
        ("Tasks started", f"{launch.started} of {max(launch.count, launch.started)}"),
        ("Attempt", attempt.label),
        ("Retryable", "yes" if failed.retryable else "no: the same request would fail again"),
    )
    return Alert(
        run_key=failed.run_id,
        job=failed.job,
        title=title,
        severity="error",
        outcome=FAILED_TO_LAUNCH,
        cause=failed.cause,
        fields=fields,
        links=launch_links(failed),
        context=f"no task was created · CloudTrail event {launch.event_id}"
        f" · {launch.started_by or 'startedBy not set'}",
    )


def launch_links(failed: FailedLaunch) -> tuple[Link, ...]:
    launch = failed.launch
    links = [Link("CloudTrail event", cloudtrail_event_url(launch.region, launch.event_id))]
    rule = launcher_url(launch)
    if rule:
        links.append(Link("EventBridge rule", rule))
    if isinstance(launch.task_definition, TaskDefinitionRef):
        ref = launch.task_definition
        links.append(Link("Task definition", task_definition_url(launch.region, ref.family, ref.revision)))
    return tuple(links)


def launch_tags(failed: FailedLaunch, attempt: Attempt) -> tuple[str, ...]:
    launch = failed.launch
    kind = failure_kind(launch)
    tags = [
        f"job:{failed.job}",
        f"cluster:{launch.cluster or 'unknown'}",
        f"family:{launch.family or 'unknown'}",
        f"launch_type:{(launch.launch_type or 'unknown').lower()}",
        f"attempt:{attempt.number}",
        f"outcome:{FAILED_TO_LAUNCH}",
        f"launch_failure:{kind.value if kind else 'unknown'}",
    ]
    if isinstance(launch.task_definition, TaskDefinitionRef):
        tags.append(f"revision:{launch.task_definition.revision}")
    tags += [f"capacity_provider:{p.lower()}" for p in launch.capacity_providers[:1]]
    return tuple(tags)


def launch_datadog_event(failed: FailedLaunch, attempt: Attempt) -> DatadogEvent:
    alert = launch_alert(failed, attempt)
    lines = [f"**{alert.title}**", "", f"Cause: {alert.cause}", ""]
    lines += [f"- {label}: {value}" for label, value in alert.fields]
    lines += ["", " · ".join(f"[{link.label}]({link.url})" for link in alert.links)]
    root = attempt.root_task_arn or failed.run_id
    return DatadogEvent(
        title=alert.title,
        text="\n".join(lines),
        alert_type="error",
        aggregation_key=f"ecswatch:{failed.job}:{root.rsplit('/', 1)[-1]}"[:100],
        tags=launch_tags(failed, attempt),
        date_happened=int(failed.happened_at.timestamp()),
    )


def launch_metric_points(failed: FailedLaunch, attempt: Attempt) -> list[MetricPoint]:
    """The run counts as one run with outcome failed_to_launch, so the dashboard's failure rate sees it."""
    at = int(failed.happened_at.timestamp())
    return [MetricPoint(f"{METRIC_PREFIX}.count", 1.0, at, launch_tags(failed, attempt), kind="count")]


def launch_record(failed: FailedLaunch, attempt: Attempt) -> RunRecord:
    """The history's view: a run that started and ended at the call, with AWS's reason as cause."""
    launch = failed.launch
    return RunRecord(
        job=failed.job,
        run_id=failed.run_id,
        cluster=launch.cluster or "default",
        region=launch.region,
        started_at=failed.happened_at,
        stopped_at=failed.happened_at,
        outcome=FAILED_TO_LAUNCH,
        cause=failed.cause,
        attempt=attempt.number,
        attempts_of=attempt.of,
        root_run_id=attempt.root_task_arn or failed.run_id,
        links={_LINK_KEYS[link.label]: link.url for link in launch_links(failed)},
        log_note="no task was created, so there is no log",
    )


# --------------------------------------------------------------------------- retrying


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


def _task_definition_label(launch: LaunchAttempt) -> str:
    ref = launch.task_definition
    if isinstance(ref, TaskDefinitionRef):
        return ref.family_revision
    return ref or "unknown"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
