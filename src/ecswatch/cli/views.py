"""What the CLI shows, as pure functions: run records in, rows out, rows in, text or JSON out.

Nothing here reads AWS or the clock: ``now`` is an argument, so every view is tested with plain
records and prints the same thing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ecswatch.analysis.redact import redact_text
from ecswatch.config.model import JobConfig
from ecswatch.events.schedule import ScheduleError, missed_run, parse_schedule
from ecswatch.history.records import SUCCEEDED, RunStats, run_time, slow_run, start_latency, usual_run_time
from ecswatch.notifications.render import human_duration
from ecswatch.run import RunRecord

#: A scheduled run that has not started this long after its time is reported as missed.
MISSED_RUN_GRACE = timedelta(minutes=10)
NONE = "-"


# --------------------------------------------------------------------------- plain text tables


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing blanks (the last column,
    often a long link, is never padded)."""
    body = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in body) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines) + "\n"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else NONE


def seconds(value: float | None) -> str:
    return human_duration(value) if value is not None else NONE


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_json_default, ensure_ascii=False) + "\n"


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def record_json(run: RunRecord) -> dict[str, Any]:
    """Every field of the record, for scripts (datetimes as ISO 8601 UTC)."""
    data = asdict(run)
    data["durations"] = dict(run.durations or {})
    data["links"] = dict(run.links or {})
    data["task_id"] = task_id(run)
    # Records written before causes were redacted may still hold what a task put in its reason.
    data["cause"] = redact_text(run.cause)
    data["log_note"] = redact_text(run.log_note)
    return data


def task_id(run: RunRecord) -> str:
    """What `ecswatch logs` takes: a task's id, or a failed launch's run id."""
    return run.run_id.rsplit("/", 1)[-1] if run.run_id.startswith("arn:") else run.run_id


def outcome_of(run: RunRecord) -> str:
    return run.outcome or "running"


def is_failed(run: RunRecord) -> bool:
    return run.outcome is not None and run.outcome != SUCCEEDED


# --------------------------------------------------------------------------- ecswatch runs

RUNS_HEADERS = ("START (UTC)", "DURATION", "START LATENCY", "OUTCOME", "EXIT", "ATTEMPT", "TASK", "LOG")


def runs_rows(runs: Iterable[RunRecord]) -> list[tuple[str, ...]]:
    return [
        (
            when(r.started_at),
            seconds(run_time(r)),
            seconds(start_latency(r)),
            outcome_of(r),
            NONE if r.exit_code is None else str(r.exit_code),
            f"{r.attempt}/{r.attempts_of}",
            task_id(r),
            (r.links or {}).get("logs") or (f"({r.log_note})" if r.log_note else NONE),
        )
        for r in runs
    ]


def runs_text(job: str, runs: Sequence[RunRecord], *, since: datetime, failed_only: bool = False) -> str:
    what = "failed runs" if failed_only else "runs"
    if not runs:
        return f"{job}: no {what} since {when(since)} UTC\n"
    title = f"{job}: {len(runs)} {what} since {when(since)} UTC, newest first\n"
    return title + table(RUNS_HEADERS, runs_rows(runs))


def runs_json(job: str, runs: Sequence[RunRecord], *, since: datetime) -> str:
    return to_json({"job": job, "since": since, "runs": [record_json(r) for r in runs]})


# --------------------------------------------------------------------------- ecswatch status


@dataclass(frozen=True)
class StatusRow:
    job: str
    last_started_at: datetime | None
    last_outcome: str | None
    last_run_time: float | None
    usual: RunStats
    schedule: str | None
    next_run: datetime | None
    alerts: tuple[str, ...] = field(default=())


def status_row(job: JobConfig, runs: Sequence[RunRecord], now: datetime) -> StatusRow:
    """One job at a glance. ``runs`` newest first. Open alerts, cheaply defined: the last finished
    run failed, the current run overruns the job's max run time, the last success was slow, or a
    scheduled run is more than 10 minutes late."""
    last = runs[0] if runs else None
    took = (
        _running_for(last, now)
        if last is not None and last.is_running
        else (run_time(last) if last else None)
    )
    next_run, alerts = _schedule_view(job, last, now)
    return StatusRow(
        job=job.name,
        last_started_at=last.started_at if last else None,
        last_outcome=outcome_of(last) if last else None,
        last_run_time=took,
        usual=usual_run_time(runs),
        schedule=job.schedule,
        next_run=next_run,
        alerts=(*_run_alerts(job, runs, now), *alerts),
    )


def _running_for(run: RunRecord, now: datetime) -> float:
    return max(0.0, (now - (run.task_started_at or run.started_at)).total_seconds())


def _run_alerts(job: JobConfig, runs: Sequence[RunRecord], now: datetime) -> list[str]:
    alerts: list[str] = []
    finished = next((r for r in runs if not r.is_running), None)
    if finished is not None and is_failed(finished):
        alerts.append(f"last run {outcome_of(finished)} ({when(finished.started_at)})")
    current = runs[0] if runs and runs[0].is_running else None
    limit = job.max_run_time_seconds
    if current is not None and limit is not None and _running_for(current, now) > limit:
        alerts.append(f"running {seconds(_running_for(current, now))}, over its max {seconds(float(limit))}")
    if finished is not None and finished.outcome == SUCCEEDED:
        slow = slow_run(finished, runs[runs.index(finished) + 1 :], factor=job.slow_run.factor)
        if slow is not None:
            alerts.append(f"last run slow: {slow.ratio:.1f}x usual")
    return alerts


def _schedule_view(
    job: JobConfig, last: RunRecord | None, now: datetime
) -> tuple[datetime | None, list[str]]:
    """Next expected run, and a missed-run alert. rate() counts from the last run (so a rate job
    that never ran has no expectation yet); cron() runs on the clock, whatever ran before."""
    if not job.schedule:
        return None, []
    try:
        schedule = parse_schedule(job.schedule)
    except ScheduleError:
        return None, [f"schedule {job.schedule!r} cannot be read"]
    last_started = last.started_at if last else None
    anchor = last_started if schedule.needs_anchor else None
    if schedule.needs_anchor and anchor is None:
        return None, []
    next_run = schedule.next_after(now, anchor=anchor)
    missed = missed_run(schedule, last_started=last_started, now=now, grace=MISSED_RUN_GRACE, anchor=anchor)
    if missed is None:
        return next_run, []
    return next_run, [f"missed run expected {when(missed)} UTC"]


STATUS_HEADERS = ("JOB", "LAST RUN (UTC)", "OUTCOME", "DURATION", "MEDIAN", "P95", "NEXT RUN (UTC)", "ALERTS")


def status_rows(rows: Iterable[StatusRow]) -> list[tuple[str, ...]]:
    return [
        (
            r.job,
            when(r.last_started_at),
            r.last_outcome or NONE,
            seconds(r.last_run_time),
            seconds(r.usual.median),
            seconds(r.usual.p95),
            when(r.next_run),
            "; ".join(r.alerts) or NONE,
        )
        for r in rows
    ]


def status_text(rows: Sequence[StatusRow], *, since: datetime) -> str:
    footer = f"(runs since {when(since)} UTC; median and p95 of up to 20 recent successful runs)\n"
    return table(STATUS_HEADERS, status_rows(rows)) + footer


def status_json(rows: Sequence[StatusRow], *, since: datetime) -> str:
    return to_json(
        {
            "since": since,
            "jobs": [
                {
                    "job": r.job,
                    "last_started_at": r.last_started_at,
                    "last_outcome": r.last_outcome,
                    "last_run_time": r.last_run_time,
                    "median_run_time": r.usual.median,
                    "p95_run_time": r.usual.p95,
                    "successful_runs_counted": r.usual.count,
                    "schedule": r.schedule,
                    "next_run": r.next_run,
                    "alerts": list(r.alerts),
                }
                for r in rows
            ],
        }
    )


# --------------------------------------------------------------------------- ecswatch logs


def logs_text(lines: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def logs_json(run: RunRecord, lines: Sequence[str]) -> str:
    return to_json(
        {
            "run_id": run.run_id,
            "job": run.job,
            "region": run.log_region,
            "log_group": run.log_group,
            "log_stream": run.log_stream,
            "lines": list(lines),
        }
    )
