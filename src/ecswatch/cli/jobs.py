"""`ecswatch jobs`: the account's scheduled ECS tasks joined with jobs.yaml and the run history, and
`ecswatch jobs init`: a jobs.yaml draft written from them.

Pure functions of data (scheduled tasks, the config, runs, ``now``), as the other views are; the
reads are ``ecswatch.cli.scheduled`` and the history reader.

A scheduled task belongs to the first job, in file order, whose match globs all hold for what its
tasks will carry: the family, the cluster's name, the group and the startedBy ECS records for the
rule or schedule (``MatchRule.matches`` on a task event, applied before the task exists). A task
that no job matches is listed, named after its family as its runs are recorded, never hidden; a
job with a schedule that no rule or schedule starts is listed too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from ecswatch.cli import views
from ecswatch.cli.scheduled import ScheduledTask
from ecswatch.config.model import JobConfig, JobsConfig, MatchRule
from ecswatch.events.schedule import ScheduleError, parse_schedule
from ecswatch.run import RunRecord

#: The history reader: a job's runs, newest first.
Runs = Callable[[str], Sequence[RunRecord]]
#: A job's open watchdog alerts (:mod:`ecswatch.cli.watchdog_alerts`).
Alerts = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class JobRow:
    job: str
    configured: bool
    source: str | None  # "rule" | "schedule"; None for a configured job nothing starts
    name: str | None
    group: str | None
    schedule: str | None
    timezone: str
    enabled: bool | None
    #: The job's schedule in jobs.yaml, and whether it differs from the rule's (None: nothing to compare).
    config_schedule: str | None
    drift: bool | None
    family: str | None
    cluster: str | None
    last_started_at: datetime | None = None
    last_outcome: str | None = None
    next_run: datetime | None = None
    alerts: tuple[str, ...] = field(default=())


def matches(rule: MatchRule, task: ScheduledTask) -> bool:
    """``MatchRule.matches`` for the tasks a rule or schedule will start: the same four globs."""
    checks = (
        (rule.family, task.family),
        (rule.cluster, task.cluster),
        (rule.group, task.ecs_group),
        (rule.started_by, task.started_by),
    )
    return all(pattern is None or fnmatchcase(value, pattern) for pattern, value in checks)


def job_for(config: JobsConfig, task: ScheduledTask) -> JobConfig | None:
    return next((job for job in config.jobs if matches(job.match, task)), None)


def job_rows(
    tasks: Sequence[ScheduledTask],
    config: JobsConfig,
    runs: Runs | None,
    now: datetime,
    alerts: Alerts | None = None,
) -> list[JobRow]:
    """One row per scheduled task, then one per configured job with a schedule that nothing starts.

    ``alerts`` gives a job's open watchdog alerts, as ``ecswatch status`` shows them."""
    rows: list[JobRow] = []
    started: set[str] = set()
    for task in sorted(tasks, key=lambda t: (t.source, t.group or "", t.name)):
        job = job_for(config, task)
        if job is not None:
            started.add(job.name)
        rows.append(_task_row(task, job or config.default_job(task.family), runs, now, alerts))
    for job in config.jobs:
        if job.name not in started and job.schedule:
            rows.append(_unstarted_row(job, runs, now, alerts))
    return rows


def _task_row(
    task: ScheduledTask, job: JobConfig, runs: Runs | None, now: datetime, alerts: Alerts | None
) -> JobRow:
    history = runs(job.name) if runs is not None else ()
    status = views.status_row(job, history, now, open_alerts=alerts(job.name) if alerts else ())
    last = history[0] if history else None
    return JobRow(
        job=job.name,
        configured=job.configured,
        source=task.source,
        name=task.name,
        group=task.group,
        schedule=task.expression,
        timezone=task.timezone,
        enabled=task.enabled,
        config_schedule=job.schedule,
        drift=drift(job.schedule, task) if job.configured else None,
        family=task.family,
        cluster=task.cluster,
        last_started_at=status.last_started_at,
        last_outcome=status.last_outcome,
        next_run=next_run(task, last, now),
        alerts=status.alerts,
    )


def _unstarted_row(job: JobConfig, runs: Runs | None, now: datetime, alerts: Alerts | None) -> JobRow:
    history = runs(job.name) if runs is not None else ()
    status = views.status_row(job, history, now, open_alerts=alerts(job.name) if alerts else ())
    return JobRow(
        job=job.name,
        configured=True,
        source=None,
        name=None,
        group=None,
        schedule=None,
        timezone="UTC",
        enabled=None,
        config_schedule=job.schedule,
        drift=True,
        family=job.match.family,
        cluster=job.match.cluster,
        last_started_at=status.last_started_at,
        last_outcome=status.last_outcome,
        next_run=None,
        alerts=("no rule or schedule starts this job", *status.alerts),
    )


def drift(config_schedule: str | None, task: ScheduledTask) -> bool | None:
    """jobs.yaml's schedule is read in UTC: it agrees with a rule's or schedule's when the expressions
    are the same (spacing aside) and the schedule runs in UTC. None when jobs.yaml names none."""
    if not config_schedule:
        return None
    return _normal(config_schedule) != _normal(task.expression or "") or task.timezone != "UTC"


def _normal(expression: str) -> str:
    return re.sub(r"\s+", " ", expression.strip())


def next_run(task: ScheduledTask, last: RunRecord | None, now: datetime) -> datetime | None:
    """When the rule or schedule starts the task next: cron() and at() on the clock (in the schedule's
    time zone); rate() from the schedule's start, else from the last run; nothing when disabled."""
    if not task.enabled or not task.expression:
        return None
    try:
        schedule = parse_schedule(task.expression, timezone=task.timezone)
    except ScheduleError:
        return None
    anchor = task.start or (last.started_at if last else None)
    if schedule.needs_anchor and anchor is None:
        return None
    return schedule.next_after(now, anchor=anchor if schedule.needs_anchor else None)


# --------------------------------------------------------------------------- rendering

HEADERS = (
    "JOB",
    "STARTED BY",
    "SCHEDULE",
    "ENABLED",
    "IN JOBS.YAML",
    "DRIFT",
    "FAMILY",
    "LAST RUN (UTC)",
    "OUTCOME",
    "NEXT RUN (UTC)",
    "ALERTS",
)


def _yes_no(value: bool | None) -> str:
    return views.NONE if value is None else ("yes" if value else "no")


def _schedule_text(row: JobRow) -> str:
    if row.schedule is None:
        return views.NONE
    return row.schedule if row.timezone == "UTC" else f"{row.schedule} {row.timezone}"


def _drift_text(row: JobRow) -> str:
    if row.drift is None:
        return views.NONE
    return f"yes: jobs.yaml says {row.config_schedule}" if row.drift else "no"


def _source_text(row: JobRow) -> str:
    if row.source is None:
        return "(nothing)"
    return f"{row.source} {row.group + '/' if row.group else ''}{row.name}"


def jobs_text(rows: Sequence[JobRow], *, note: str | None = None) -> str:
    if not rows:
        return "no EventBridge rule or Scheduler schedule starts an ECS task in this region\n"
    body = views.table(
        HEADERS,
        [
            (
                r.job,
                _source_text(r),
                _schedule_text(r),
                _yes_no(r.enabled),
                _yes_no(r.configured),
                _drift_text(r),
                r.family or views.NONE,
                views.when(r.last_started_at),
                r.last_outcome or views.NONE,
                views.when(r.next_run),
                "; ".join(r.alerts) or views.NONE,
            )
            for r in rows
        ],
    )
    unconfigured = sum(1 for r in rows if not r.configured)
    drifted = sum(1 for r in rows if r.drift)
    summary = f"({len(rows)} jobs; {unconfigured} not in jobs.yaml; {drifted} with schedule drift)\n"
    return body + summary + (f"({note})\n" if note else "")


def jobs_json(rows: Sequence[JobRow], *, note: str | None = None) -> str:
    return views.to_json(
        {
            "jobs": [
                {
                    "job": r.job,
                    "configured": r.configured,
                    "started_by": {"kind": r.source, "name": r.name, "group": r.group} if r.source else None,
                    "schedule": r.schedule,
                    "timezone": r.timezone,
                    "enabled": r.enabled,
                    "config_schedule": r.config_schedule,
                    "drift": r.drift,
                    "family": r.family,
                    "cluster": r.cluster,
                    "last_run": {"started_at": r.last_started_at, "outcome": r.last_outcome}
                    if r.last_started_at
                    else None,
                    "next_run": r.next_run,
                    "alerts": list(r.alerts),
                }
                for r in rows
            ],
            "note": note,
        }
    )


# --------------------------------------------------------------------------- ecswatch jobs init

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")

DRAFT_HEADER = """\
# jobs.yaml draft written by `ecswatch jobs init` from the region's EventBridge rules and Scheduler
# schedules that start ECS tasks. Review it in a pull request before deploying: names, channels,
# max_run_time and the retry policies are yours to decide. `python -m ecswatch.config.model FILE`
# checks it. Every key is described in the jobs.yaml that ships with ecswatch.
"""


def draft_config(tasks: Sequence[ScheduledTask], *, default_channel: str) -> str:
    """A jobs.yaml, one job per scheduled task: matched by family, cluster and startedBy, with the
    rule's schedule (UTC ones: jobs.yaml schedules are UTC, the watchdog reads any other from the
    schedule itself), the target's network for retries, and a conservative retry commented out."""
    lines = [
        DRAFT_HEADER,
        "defaults:",
        f"  slack_channel: {_quoted(default_channel)}",
        "  notify_on_success: false",
        "  retry:",
        "    attempts: 1",
        "",
        "jobs:" if tasks else "jobs: {}",
    ]
    taken: set[str] = set()
    for task in sorted(tasks, key=lambda t: (t.source, t.group or "", t.name)):
        lines += ["", *_draft_job(task, _unique(_job_name(task), taken))]
    return "\n".join(lines) + "\n"


def _draft_job(task: ScheduledTask, name: str) -> list[str]:
    lines = [f"  {name}:", f"    # from {task.label}" + ("" if task.enabled else " (DISABLED)")]
    lines += [
        "    match:",
        f"      family: {_quoted(task.family)}",
        f"      cluster: {_quoted(task.cluster)}",
        f"      started_by: {_quoted(task.started_by)}",
    ]
    if task.expression and task.timezone == "UTC":
        lines.append(f"    schedule: {_quoted(task.expression)}")
    elif task.expression:
        lines.append(
            f"    # schedule: {task.expression} in {task.timezone}; the watchdog reads it from the schedule"
        )
    lines.append("    # max_run_time: 1h        # the longest a run may take; the watchdog alerts past it")
    if task.network is not None:
        lines += [
            "    network:",
            f"      subnets: {_flow(task.network.subnets)}",
            f"      security_groups: {_flow(task.network.security_groups)}",
            f"      assign_public_ip: {'true' if task.network.assign_public_ip else 'false'}",
        ]
    lines += [
        "    # retry:                # review, then uncomment: one more attempt after a start failure,",
        "    #   attempts: 2         # a Spot interruption or an infrastructure stop; never after the job",
        "    #   evaluate_on_exit:   # itself failed. Needs the family in RetryTaskDefinitionFamilies.",
        "    #     - on_outcome: failed",
        "    #       action: EXIT",
    ]
    return lines


def _job_name(task: ScheduledTask) -> str:
    name = _NAME_CHARS.sub("-", task.name).strip("-._") or _NAME_CHARS.sub("-", task.family).strip("-._")
    return name if name and name[0].isalnum() else f"job-{name}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _quoted(text: str) -> str:
    """A JSON string is a YAML string: no value read from AWS can break the file's structure."""
    return json.dumps(text, ensure_ascii=False)


def _flow(items: Sequence[Any]) -> str:
    return "[" + ", ".join(_quoted(str(i)) for i in items) + "]"
