"""parse -> enrich -> analyse: one raw ECS event in, one run report (or a reason to skip) out.

This is the domain's front door for task events. It takes its collaborators as
arguments (ports), so tests hand it fakes and the Lambda hands it adapters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecswatch.analysis.links import build_links
from ecswatch.analysis.outcome import analyse, deciding_container, phase_durations
from ecswatch.analysis.redact import fit_tail, redacted_event
from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.config.settings import Settings
from ecswatch.events.task import TaskEvent, event_kind, is_task_state_change, parse_task_event
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.ports import LogReader, TaskDefinitions
from ecswatch.run import Links, LogTail, RunPhase, RunReport, Skipped


def process_task_event(
    raw: Mapping[str, Any],
    *,
    settings: Settings,
    task_definitions: TaskDefinitions,
    logs: LogReader,
    jobs: JobsConfig | None = None,
) -> RunReport | Skipped:
    """Raise ``MalformedEvent`` for unreadable input and ``TransientError`` when AWS should be retried.

    ``jobs`` names the run's job and may say where its log is when the task definition cannot;
    without it a run's job is its task definition family.
    """
    skip = _skip_before_parse(raw)
    if skip:
        return skip
    # Reasons are redacted once, here, so the cause and everything built from the report are clean.
    event = redacted_event(parse_task_event(raw))
    skip = _skip_after_parse(event, settings)
    if skip:
        return skip
    taskdef = task_definitions.get(event.task_definition.arn)
    job = jobs.job_for(event) if jobs is not None else None
    if event.is_running:
        return _started_report(event, taskdef, job)
    return _stopped_report(event, taskdef, settings, logs, job)


def _skip_before_parse(raw: Mapping[str, Any]) -> Skipped | None:
    if not isinstance(raw, Mapping) or "source" not in raw or "detail-type" not in raw:
        return None  # let the parser name what is wrong
    if not is_task_state_change(raw):
        return Skipped(f"not an ECS Task State Change ({event_kind(raw)})", kind="other-event")
    return None


def _skip_after_parse(event: TaskEvent, settings: Settings) -> Skipped | None:
    if not settings.watches(event.task.cluster):
        return Skipped(f"cluster {event.task.cluster!r} is not watched", kind="cluster")
    if event.is_service_task and not settings.include_service_tasks:
        return Skipped(f"service task ({event.group}); INCLUDE_SERVICE_TASKS is off", kind="service")
    if not (event.is_stopped or event.is_running):
        return Skipped(
            f"intermediate state {event.last_status} (desired {event.desired_status})", kind="intermediate"
        )
    return None


def _links(
    event: TaskEvent, container: str | None, taskdef: TaskDefinition | None, job: JobConfig | None
) -> Links:
    """The job's log override is used only where the task definition cannot say where the log is."""
    links = build_links(event, container, taskdef)
    if links.log_location is None and container and job is not None and job.log is not None:
        links = build_links(event, container, taskdef, override=job.log.location(event, container))
    return links


def _job_name(event: TaskEvent, job: JobConfig | None) -> str:
    return job.name if job is not None else event.task_definition.family


def _started_report(event: TaskEvent, taskdef: TaskDefinition | None, job: JobConfig | None) -> RunReport:
    decider = deciding_container(event, taskdef, sidecars=job.sidecars if job is not None else ())
    name = decider.name if decider else None
    return RunReport(
        phase=RunPhase.STARTED,
        event=event,
        job=_job_name(event, job),
        outcome=None,
        cause="task is running",
        deciding_container=name,
        exit_code=None,
        durations=phase_durations(event.timeline),
        links=_links(event, name, taskdef, job),
        log_tail=None,
        task_definition=taskdef,
    )


def _stopped_report(
    event: TaskEvent,
    taskdef: TaskDefinition | None,
    settings: Settings,
    logs: LogReader,
    job: JobConfig | None,
) -> RunReport:
    analysis = analyse(event, taskdef, sidecars=job.sidecars if job is not None else ())
    links = _links(event, analysis.deciding_container, taskdef, job)
    tail = None
    if analysis.outcome.is_failure and settings.log_tail_lines > 0:
        tail = _log_tail(links, settings, logs)
    return RunReport(
        phase=RunPhase.STOPPED,
        event=event,
        job=_job_name(event, job),
        outcome=analysis.outcome,
        cause=analysis.cause,
        deciding_container=analysis.deciding_container,
        exit_code=analysis.exit_code,
        durations=analysis.durations,
        links=links,
        log_tail=tail,
        task_definition=taskdef,
    )


def _log_tail(links: Links, settings: Settings, logs: LogReader) -> LogTail:
    where = links.log_location
    if where is None:
        return LogTail(note=links.log_missing_reason or "log location unknown")
    raw = logs.tail(where.region, where.group, where.stream, settings.log_tail_lines)
    if not raw.lines:
        return raw
    lines = [readable_line(line) for line in raw.lines]
    return fit_tail(lines, max_lines=settings.log_tail_lines, max_bytes=settings.log_tail_max_bytes)


def readable_line(line: str) -> str:
    """FireLens/Fluent Bit write each line as a JSON record; on-call wants the ``log`` text inside it."""
    if not (line.startswith("{") and '"log"' in line):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    text = record.get("log") if isinstance(record, dict) else None
    return text.rstrip("\n") if isinstance(text, str) else line
