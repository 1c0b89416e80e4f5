"""What the watchdog's findings say to people: Slack alerts and Datadog events, in the words on-call reads.

Kept apart from the decisions (``ecswatch.watchdog.service``) as ``alerts`` is kept apart from the pipeline:
the wording can change without touching when something is alerted. Every alert names the job, says
what is wrong in one line, and links to the evidence (the task, its log) where there is a task.
A missed run has no task; its alert names the schedule and where it came from instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ecswatch.analysis.links import build_links
from ecswatch.config.model import JobConfig
from ecswatch.events.task import TaskEvent
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.notifications import words
from ecswatch.notifications.alerts import event_markdown
from ecswatch.notifications.render import human_duration
from ecswatch.run import Alert, DatadogEvent, Link

if TYPE_CHECKING:
    from ecswatch.watchdog.decisions import Expectation

#: What each waiting status means, from the ECS task lifecycle, so the alert says where it is stuck.
_WAITING_MEANING = {
    "PROVISIONING": "ECS is still getting capacity or the network interface ready",
    "PENDING": "waiting for the container agent: capacity to place it, or the image pull",
    "ACTIVATING": "ECS is finishing set-up (load balancer or service discovery registration)",
}
_SOURCE = "ecswatch watchdog"


# --------------------------------------------------------------------------- task alerts


def overrun_alert(
    job: JobConfig, task: TaskEvent, taskdef: TaskDefinition | None, run_seconds: float, limit_seconds: int
) -> Alert:
    ran, limit = human_duration(run_seconds), human_duration(limit_seconds)
    if job.stop_on_overrun:
        then = "ecswatch is stopping it (stop_on_overrun)"
    else:
        then = (
            "it keeps running; stop it by hand, or set stop_on_overrun: true to have ecswatch stop such runs"
        )
    return Alert(
        run_key=task.task.arn,
        job=job.name,
        title=words.running_too_long(job.name, ran, limit),
        severity="warning",
        outcome="overrun",
        cause=f"running for {ran}, longer than its max_run_time of {limit}; {then}",
        fields=(
            ("Cluster", task.task.cluster or "default"),
            ("Started", when(task.timeline.started)),
            ("Running for", ran),
            ("Max run time", limit),
            ("Task definition", task.task_definition.family_revision),
            ("Status", task.last_status),
        ),
        links=_task_links(job, task, taskdef),
        context=_task_context(task),
    )


def stuck_alert(
    job: JobConfig, task: TaskEvent, taskdef: TaskDefinition | None, waited_seconds: float, limit_seconds: int
) -> Alert:
    waited, limit = human_duration(waited_seconds), human_duration(limit_seconds)
    status = task.last_status
    meaning = _WAITING_MEANING.get(status, "not started yet")
    return Alert(
        run_key=task.task.arn,
        job=job.name,
        title=words.not_started_after(job.name, waited, status),
        severity="warning",
        outcome="stuck_start",
        cause=f"{status} for {waited} since {when(task.timeline.created)}, longer than {limit}: {meaning}",
        fields=(
            ("Cluster", task.task.cluster or "default"),
            ("Status", status),
            ("Created", when(task.timeline.created)),
            ("Waiting for", waited),
            ("Alert after", limit),
            ("Capacity", task.capacity_provider or task.launch_type or "-"),
            ("Task definition", task.task_definition.family_revision),
        ),
        links=_task_links(job, task, taskdef),
        context=_task_context(task),
    )


def task_datadog_event(alert: Alert, task: TaskEvent, *, kind: str, at: datetime) -> DatadogEvent:
    """Aggregated with the run's own events (same key as ``alerts.datadog_event`` gives a first run)."""
    tags = (
        f"job:{alert.job}",
        f"cluster:{task.task.cluster or 'default'}",
        f"family:{task.task_definition.family}",
        f"watchdog:{kind}",
        "source:ecswatch-watchdog",
    )
    return DatadogEvent(
        title=alert.title,
        text=_event_text(alert),
        alert_type=alert.severity,
        aggregation_key=f"ecswatch:{alert.job}:{task.task.task_id}"[:100],
        tags=tags,
        date_happened=int(at.timestamp()),
    )


def _task_links(job: JobConfig, task: TaskEvent, taskdef: TaskDefinition | None) -> tuple[Link, ...]:
    container = _main_container(task, taskdef)
    override = job.log.location(task, container) if job.log is not None and container else None
    links = build_links(task, container, taskdef, override=override)
    out = [Link("ECS task", links.task)]
    if links.log_stream:
        out.append(Link("Log stream", links.log_stream))
    if links.logs_insights:
        out.append(Link("Logs Insights", links.logs_insights))
    out.append(Link("Task definition", links.task_definition))
    return tuple(out)


def _main_container(task: TaskEvent, taskdef: TaskDefinition | None) -> str | None:
    """The first essential container: the one whose log says what the run is doing."""
    if taskdef is not None and taskdef.essential_names:
        return taskdef.essential_names[0]
    return task.containers[0].name if task.containers else None


def _task_context(task: TaskEvent) -> str:
    how = task.capacity_provider or task.launch_type or "ECS"
    return f"task {task.task.task_id} · {how} · {task.started_by or 'started by unknown'} · {_SOURCE}"


# --------------------------------------------------------------------------- schedule alerts


def missed_run_key(job: str, expected: datetime) -> str:
    """The missed-run alert's run key: its Slack thread, where the recovery goes."""
    return f"missed:{job}:{expected.astimezone(UTC).isoformat()}"


def missed_alert(expectation: Expectation, expected: datetime, *, last_started: datetime | None) -> Alert:
    """Says "expected at 02:00 UTC, not started by 02:10", with the schedule and where it came from."""
    job, deadline = expectation.job.name, expected + expectation.grace
    return Alert(
        run_key=missed_run_key(job, expected),
        job=job,
        title=words.did_not_run(job, clock(expected)),
        severity="error",
        outcome="missed_run",
        cause=f"expected at {clock(expected)}, not started by {clock(deadline, zone=False)}",
        fields=(
            *_schedule_fields(expectation, expected),
            ("Last run started", when(last_started) if last_started else "none known"),
        ),
        links=(),
        context=f"{_SOURCE} · one alert per outage; the next run that starts posts a recovery here",
    )


def recovery_alert(expectation: Expectation, expected: datetime, started_at: datetime) -> Alert:
    job = expectation.job.name
    late = human_duration((started_at - expected).total_seconds())
    return Alert(
        run_key=missed_run_key(job, expected),
        job=job,
        title=words.ran_again(job, when(started_at)),
        severity="success",
        outcome="recovered",
        cause=f"a run started {late} after the missed start expected at {clock(expected)}",
        fields=(("Expected", when(expected)), ("Started", when(started_at))),
        links=(),
        context=_SOURCE,
    )


def recovery_parent(expectation: Expectation, expected: datetime, started_at: datetime) -> Alert:
    """The missed-run message once the job ran again: still says what was missed, now resolved."""
    missed = missed_alert(expectation, expected, last_started=None)
    return Alert(
        run_key=missed.run_key,
        job=missed.job,
        title=words.missed_then_ran(missed.job, clock(expected), when(started_at)),
        severity="success",
        outcome="recovered",
        cause=missed.cause,
        fields=_schedule_fields(expectation, expected),
        links=(),
        context=_SOURCE,
    )


def missed_datadog_event(
    alert: Alert, expectation: Expectation, expected: datetime, *, at: datetime
) -> DatadogEvent:
    """The missed alert and its recovery share an aggregation key, so Datadog shows them together."""
    return DatadogEvent(
        title=alert.title,
        text=_event_text(alert),
        alert_type=alert.severity,
        aggregation_key=f"ecswatch:{alert.job}:missed:{int(expected.timestamp())}"[:100],
        tags=(f"job:{alert.job}", f"watchdog:{alert.outcome}", "source:ecswatch-watchdog"),
        date_happened=int(at.timestamp()),
    )


def _schedule_fields(expectation: Expectation, expected: datetime) -> tuple[tuple[str, str], ...]:
    schedule = expectation.schedule
    expected_text = when(expected)
    if schedule.timezone != "UTC":
        expected_text += f" ({schedule.wall_clock(expected)})"
    return (
        ("Expected", expected_text),
        ("Schedule", f"{schedule.expression}: {schedule.describe()}"),
        ("From", expectation.source),
        ("Grace", human_duration(expectation.grace.total_seconds())),
    )


# --------------------------------------------------------------------------- text


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def clock(moment: datetime, *, zone: bool = True) -> str:
    """The time of day on-call compares with the schedule: "02:00 UTC"."""
    text = moment.astimezone(UTC).strftime("%H:%M")
    return f"{text} UTC" if zone else text


def _event_text(alert: Alert) -> str:
    return event_markdown(alert)
