"""Plain renderings of a run report: a flat dict for structured logs, and text a person reads.

The text form is what the offline demo prints and what a terminal user of the
CLI sees; Slack and Datadog build their own payloads from the same report.
"""

from __future__ import annotations

from typing import Any

from ecswatch.run import RunPhase, RunReport


def human_duration(seconds: float | None) -> str:
    """'1h02m03s', '45.2s', or 'unknown' — never a negative or a crash."""
    if seconds is None:
        return "unknown"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def headline(report: RunReport) -> str:
    if report.phase is RunPhase.STARTED:
        return f"{report.job} started after {human_duration(report.durations.start_latency)}"
    assert report.outcome is not None
    return f"{report.job} {report.outcome.label}"


def summary(report: RunReport) -> dict[str, Any]:
    """Flat, JSON-friendly keys for one structured log line per report."""
    event, d = report.event, report.durations
    return {
        "job": report.job,
        "phase": report.phase.value,
        "outcome": report.outcome.value if report.outcome else None,
        "cause": report.cause,
        "exit_code": report.exit_code,
        "deciding_container": report.deciding_container,
        "task_arn": event.task.arn,
        "cluster": event.task.cluster,
        "task_definition": event.task_definition.family_revision,
        "launch_type": event.launch_type,
        "capacity_provider": event.capacity_provider,
        "started_by": event.started_by,
        "version": event.version,
        "provisioning_s": d.provisioning,
        "image_pull_s": d.image_pull,
        "start_latency_s": d.start_latency,
        "run_time_s": d.run_time,
        "stopping_s": d.stopping,
        "total_s": d.total,
        "log_url": report.links.log_stream,
        "task_url": report.links.task,
        "log_missing_reason": report.links.log_missing_reason,
    }


def render_text(report: RunReport) -> str:
    """What on-call would want on one screen, without clicking anything."""
    event, d, links = report.event, report.durations, report.links
    lines = [
        headline(report),
        f"  cause        {report.cause}",
        f"  task         {event.task.cluster}/{event.task.task_id}  ({event.task_definition.family_revision},"
        f" {event.capacity_provider or event.launch_type or 'unknown launch type'})",
        f"  container    {report.deciding_container or '-'}   exit code "
        f"{'-' if report.exit_code is None else report.exit_code}",
        f"  durations    provisioning {human_duration(d.provisioning)} · pull {human_duration(d.image_pull)}"
        f" · start latency {human_duration(d.start_latency)} · run {human_duration(d.run_time)}"
        f" · stopping {human_duration(d.stopping)} · total {human_duration(d.total)}",
        f"  ECS task     {links.task}",
        f"  definition   {links.task_definition}",
    ]
    if links.log_stream:
        lines.append(f"  log stream   {links.log_stream}")
        lines.append(f"  insights     {links.logs_insights}")
    else:
        lines.append(f"  log stream   none: {links.log_missing_reason}")
    tail = report.log_tail
    if tail is not None:
        if tail.lines:
            cut = " (cut to fit)" if tail.truncated else ""
            lines.append(f"  log tail{cut}:")
            lines.extend(f"    | {line}" for line in tail.lines)
        if tail.note:
            lines.append(f"  log tail     {tail.note}")
    return "\n".join(lines)
