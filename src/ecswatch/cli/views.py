"""What the CLI shows, as pure functions: run records in, rows out, rows in, text or JSON out.

Nothing here reads AWS or the clock: ``now`` is an argument, so every view is tested with plain
records and prints the same thing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from ecswatch.analysis.redact import redact_text
from ecswatch.config.model import JobConfig
from ecswatch.events.schedule import ScheduleError, parse_schedule
from ecswatch.history.records import SUCCEEDED, RunStats, run_time, start_latency, usual_run_time
from ecswatch.notifications.render import human_duration
from ecswatch.run import RunRecord

NONE = "-"
NO_RUNS = "no runs recorded yet"
UNKNOWN = "unknown"


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
    data = msgspec.structs.asdict(run)
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
    what = "failed run" if failed_only else "run"
    if not runs:
        return f"{job}: no {what}s since {when(since)} UTC\n"
    title = f"{job}: {counted(len(runs), what)} since {when(since)} UTC, newest first\n"
    return title + table(RUNS_HEADERS, runs_rows(runs))


def counted(count: int, thing: str) -> str:
    """``1 run``, ``2 runs``: every count the CLI prints goes through here."""
    return f"{count} {thing}" if count == 1 else f"{count} {thing}s"


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
    #: The last run has not finished: ``last_run_time`` is its time so far.
    running: bool = False


def status_row(
    job: JobConfig,
    runs: Sequence[RunRecord],
    now: datetime,
    *,
    open_alerts: Sequence[str] = (),
    last_recorded: RunRecord | None = None,
) -> StatusRow:
    """One job at a glance. ``runs`` newest first, those since the window's start; ``last_recorded``
    the newest run before it, when the window holds none (None: the job has no runs recorded).

    ``open_alerts`` are the watchdog's, as it keeps them (:mod:`ecswatch.cli.watchdog_alerts`):
    status computes none of its own, so it never shows a missed run or an overrun the watchdog did
    not raise, nor one it has closed. A failed or slow last run was alerted when it happened; the
    OUTCOME, DURATION and MEDIAN columns show it."""
    last = runs[0] if runs else last_recorded
    running = last is not None and last.is_running
    took = None if last is None else (_running_for(last, now) if running else run_time(last))
    return StatusRow(
        job=job.name,
        last_started_at=last.started_at if last else None,
        last_outcome=outcome_of(last) if last else None,
        last_run_time=took,
        usual=usual_run_time(runs),
        schedule=job.schedule,
        next_run=_next_run(job, last, now),
        alerts=tuple(open_alerts),
        running=running,
    )


def _running_for(run: RunRecord, now: datetime) -> float:
    return max(0.0, (now - (run.task_started_at or run.started_at)).total_seconds())


def _next_run(job: JobConfig, last: RunRecord | None, now: datetime) -> datetime | None:
    """When the schedule runs the job next. rate() counts from the last run (so a rate job that
    never ran has no expectation yet); cron() runs on the clock, whatever ran before. A forecast
    only: whether a run was missed is the watchdog's to say."""
    if not job.schedule:
        return None
    try:
        schedule = parse_schedule(job.schedule)
    except ScheduleError:  # the config check reports it; status shows no next run
        return None
    anchor = last.started_at if last and schedule.needs_anchor else None
    if schedule.needs_anchor and anchor is None:
        return None
    return schedule.next_after(now, anchor=anchor)


STATUS_HEADERS = ("JOB", "LAST RUN (UTC)", "OUTCOME", "DURATION", "MEDIAN", "P95", "NEXT RUN (UTC)", "ALERTS")


def status_rows(rows: Iterable[StatusRow], *, alerts_problem: str | None = None) -> list[tuple[str, ...]]:
    return [
        (
            r.job,
            when(r.last_started_at) if r.last_started_at else NO_RUNS,
            r.last_outcome or NONE,
            f"{seconds(r.last_run_time)} so far" if r.running else seconds(r.last_run_time),
            seconds(r.usual.median),
            seconds(r.usual.p95),
            when(r.next_run),
            UNKNOWN if alerts_problem else "; ".join(r.alerts) or NONE,
        )
        for r in rows
    ]


def status_text(rows: Sequence[StatusRow], *, since: datetime, alerts_problem: str | None = None) -> str:
    footer = f"(runs since {when(since)} UTC; median and p95 of up to 20 recent successful runs)\n"
    if alerts_problem:
        footer += f"(ALERTS {UNKNOWN}: {alerts_problem})\n"
    return table(STATUS_HEADERS, status_rows(rows, alerts_problem=alerts_problem)) + footer


def status_json(rows: Sequence[StatusRow], *, since: datetime, alerts_problem: str | None = None) -> str:
    """``alerts`` is the watchdog's open alerts per job, null when its state could not be read
    (``alerts_problem`` says why)."""
    return to_json(
        {
            "since": since,
            **({"alerts_problem": alerts_problem} if alerts_problem else {}),
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
                    "running": r.running,
                    "alerts": None if alerts_problem else list(r.alerts),
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
