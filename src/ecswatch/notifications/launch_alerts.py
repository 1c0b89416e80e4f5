"""What a launch that created no task says to people: its Slack alert, Datadog event and metric point."""

from __future__ import annotations

from datetime import UTC, datetime

from ecswatch.analysis.failed_launch import FAILED_TO_LAUNCH, FailedLaunch
from ecswatch.analysis.links import task_definition_url
from ecswatch.events.cloudtrail import (
    LaunchAttempt,
    cloudtrail_event_url,
    failure_kind,
    launcher_url,
)
from ecswatch.events.task import TaskDefinitionRef
from ecswatch.notifications.alerts import METRIC_PREFIX, attempt_suffix, event_markdown, retry_fields
from ecswatch.run import Alert, Attempt, DatadogEvent, Link, MetricPoint


def launch_alert(failed: FailedLaunch, attempt: Attempt) -> Alert:
    launch = failed.launch
    title = f"{failed.job} failed to launch{attempt_suffix(attempt)}"
    # Whether a retry follows is the coordinator's decision (the policy, the attempts, the queue);
    # without one, what the failure itself allows.
    retry = retry_fields(attempt) or (
        ("Retryable", "yes" if failed.retryable else "no: the same request would fail again"),
    )
    fields = (
        ("Cluster", launch.cluster or "unknown (request not recorded)"),
        ("Task definition", _task_definition_label(launch)),
        ("Launched by", failed.launched_by),
        ("When", _when(failed.happened_at)),
        ("Tasks started", f"{launch.started} of {max(launch.count, launch.started)}"),
        ("Attempt", attempt.label),
        *retry,
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
    root = attempt.root_task_arn or failed.run_id
    return DatadogEvent(
        title=alert.title,
        text=event_markdown(alert, cause_label="Cause"),
        alert_type="error",
        aggregation_key=f"ecswatch:{failed.job}:{root.rsplit('/', 1)[-1]}"[:100],
        tags=launch_tags(failed, attempt),
        date_happened=int(failed.happened_at.timestamp()),
    )


def launch_metric_points(failed: FailedLaunch, attempt: Attempt) -> list[MetricPoint]:
    """The run counts as one run with outcome failed_to_launch, so the dashboard's failure rate sees it."""
    at = int(failed.happened_at.timestamp())
    return [MetricPoint(f"{METRIC_PREFIX}.count", 1.0, at, launch_tags(failed, attempt), kind="count")]


def _task_definition_label(launch: LaunchAttempt) -> str:
    ref = launch.task_definition
    if isinstance(ref, TaskDefinitionRef):
        return ref.family_revision
    return ref or "unknown"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
