"""What a run report becomes for people and dashboards: an alert, a Datadog event, metric points.

These are neutral shapes (no Slack or Datadog SDK types): the adapters turn
them into Block Kit and ``EventCreateRequest``/``MetricPayload``. Keeping the
wording and the tags here means Slack, Datadog and the CLI say the same thing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ecswatch.analysis.links import ecs_task_url
from ecswatch.analysis.outcome import is_routine_scheduler_stop
from ecswatch.events.task import MalformedEvent, TaskRef
from ecswatch.events.text import cut_middle
from ecswatch.notifications import words
from ecswatch.notifications.render import human_duration
from ecswatch.run import (
    FIRST_ATTEMPT,
    Alert,
    Attempt,
    ChainLink,
    DatadogEvent,
    Link,
    MemberState,
    MetricPoint,
    Outcome,
    RunPhase,
    RunReport,
    StormMember,
    StormState,
)

METRIC_PREFIX = "ecswatch.run"
#: The most of a cause a Datadog event shows: cut in the middle beyond it, so AWS's advice stays.
EVENT_CAUSE_MAX = 1500


def tags_for(report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> tuple[str, ...]:
    """Datadog tags. Low-cardinality on purpose: no task ids (those belong in the event text)."""
    event = report.event
    tags = [
        f"job:{report.job}",
        f"cluster:{event.task.cluster or 'default'}",
        f"family:{event.task_definition.family}",
        f"revision:{event.task_definition.revision}",
        f"launch_type:{(event.launch_type or 'unknown').lower()}",
        f"attempt:{attempt.number}",
    ]
    if event.capacity_provider:
        tags.append(f"capacity_provider:{event.capacity_provider.lower()}")
    if report.outcome is not None:
        tags.append(f"outcome:{report.outcome.value}")
    if report.exit_code is not None:
        tags.append(f"exit_code:{report.exit_code}")
    if attempt.chain is not None and attempt.chain.triggered_by_job:
        tags.append(f"triggered_by:{attempt.chain.triggered_by_job}")
    return tuple(tags)


def alert_for(report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> Alert:
    event, d = report.event, report.durations
    outcome = report.outcome
    severity = outcome.severity if outcome else "info"
    failed = report.is_failure
    title = f"{report.job} {outcome.label if outcome else 'started'}{attempt_suffix(attempt, failed=failed)}"
    fields = (
        ("Cluster", event.task.cluster or "default"),
        ("Exit code", "-" if report.exit_code is None else str(report.exit_code)),
        ("Container", report.deciding_container or "-"),
        ("Started", _when(event.timeline.started)),
        ("Run time", human_duration(d.run_time)),
        ("Start latency", human_duration(d.start_latency)),
        ("Attempt", attempt.label),
        *retry_fields(attempt, failed=failed),
        ("Task definition", event.task_definition.family_revision),
        *_chain_fields(attempt.chain),
    )
    return Alert(
        run_key=event.task.arn,
        job=report.job,
        title=title,
        severity=severity,
        outcome=outcome.value if outcome else "running",
        cause=report.cause,
        fields=fields,
        links=_links(report) + _chain_links(attempt.chain),
        log_tail=report.log_tail,
        context=f"task {event.task.task_id} · {event.capacity_provider or event.launch_type or 'ECS'}"
        f" · {event.started_by or 'started by unknown'}",
    )


def attempt_suffix(attempt: Attempt, *, failed: bool = True) -> str:
    """What a title says of the attempt: "attempt 1/3" only when a retry follows (or a later attempt
    names itself), and for a failure no retry follows, why not: "(no retry: attempts used)".

    A first attempt of a job without retries says nothing: there was nothing to promise.
    """
    note = attempt.retry if failed else None
    later = attempt.number > 1
    parts: list[str] = []
    if later or (attempt.of > 1 and (note is None or note.follows)):
        parts.append(f"attempt {attempt.label}")
    if note is not None and not note.follows and (attempt.of > 1 or later):
        parts.append(note.text)
    return f" ({', '.join(parts)})" if parts else ""


def retry_fields(attempt: Attempt, *, failed: bool = True) -> tuple[tuple[str, str], ...]:
    """The "Retry" field of a failure: "retry 2/3 follows in 1m30s" or "no retry: <why>"."""
    if not failed or attempt.retry is None:
        return ()
    return (("Retry", attempt.retry.text),)


#: Runs named one per line in a storm message (45 lines of a task id and a state fit Slack's 3,000
#: characters of section text with the tally); past this, the open ones first and a count of the rest.
MEMBERS_NAMED = 45
_STORM_SEVERITY = {
    MemberState.FAILED: "error",
    MemberState.RETRYING: "warning",
    MemberState.RECOVERED: "success",
}


def storm_alert(state: StormState, latest: Alert | None = None) -> Alert:
    """The one message that stands for many failures of one job, rendered from the stored members.

    Its title is the worst state any member is in now (a failure outranks a retry in flight, which
    outranks a recovery): "recovered" only when every member recovered. The body counts members by
    state ("3 failed · 1 recovered on retry · 1 retrying") and names each run with its state, so no
    run of the window goes unannounced. ``since`` is the earliest member's own stop time. ``latest``
    (the run that just joined) lends its first fields, links and log tail.
    """
    members = state.members
    worst = max((m.state for m in members), key=lambda s: s.rank, default=MemberState.FAILED)
    since = _when(state.since)
    tally = _tally(members, state.count)
    runs = f"{state.count} failed run{'' if state.count == 1 else 's'}"
    if worst is MemberState.FAILED:
        title = f"{state.job} failing: {runs} since {since}"
    elif worst is MemberState.RETRYING:
        title = f"{state.job} retrying: {runs} since {since}, none failed for good yet"
    else:
        title = f"{state.job} recovered: {runs} since {since}, all recovered on retry"
    distinct = list(dict.fromkeys(state.causes))[-5:]
    lines = [tally, *_member_lines(members, state.count)]
    if distinct:
        lines.append("latest causes: " + "; ".join(distinct))
    fields = (("Failures", str(state.count)), ("Since", since), *(latest.fields[:3] if latest else ()))
    return Alert(
        run_key=storm_key(state),
        job=state.job,
        title=title,
        severity=_STORM_SEVERITY[worst],
        outcome="storm",
        cause="\n".join(lines),
        fields=fields,
        links=latest.links if latest else (),
        log_tail=latest.log_tail if latest else None,
        context="grouped to avoid flooding the channel" + (f" · latest: {latest.context}" if latest else ""),
    )


def roster_replies(state: StormState) -> list[tuple[Alert, tuple[StormMember, ...]]]:
    """Replies for the storm's thread, each naming :data:`MEMBERS_NAMED` runs not named there yet
    (oldest first), with the runs it names. Only whole replies: the storm's message names the runs
    not in its thread (fewer than a reply's worth once these are posted), so every run is named,
    in the message or in its thread, with one post per 45 runs however large the storm."""
    listed = sum(1 for m in state.members if m.listed)
    waiting = [m for m in state.members if not m.listed]
    if len(waiting) <= MEMBERS_NAMED:
        return []
    replies = []
    for start in range(0, len(waiting) // MEMBERS_NAMED * MEMBERS_NAMED, MEMBERS_NAMED):
        chunk = tuple(waiting[start : start + MEMBERS_NAMED])
        first = listed + start + 1
        reply = Alert(
            run_key=storm_key(state),
            job=state.job,
            title=words.storm_roster(state.job, first, first + len(chunk) - 1, state.count),
            severity="info",
            outcome="storm",
            cause="\n".join(f"• {m.label}" for m in chunk),
            fields=(),
            links=(),
        )
        replies.append((reply, chunk))
    return replies


def storm_key(state: StormState) -> str:
    """The run key of a storm's own messages: the job and its window's start (ms)."""
    return f"storm:{state.job}:{int(state.window_start.timestamp() * 1000)}"


#: Markdown that makes a link (or an image) from text, and the backslash that would undo an escape.
_LINK_MARKUP = re.compile(r"[\\\[\]]")


def escape_markdown(text: str) -> str:
    """Text as Datadog shows it, never as a link: a container reason's ``[text](https://…)`` stays text."""
    return _LINK_MARKUP.sub(r"\\\g<0>", text)


def event_markdown(alert: Alert, *, cause_label: str | None = None) -> str:
    """The one Datadog rendering of an alert: its title, cause and fields escaped (they carry task data
    and AWS's words), then ecswatch's own links as links. Mentions are defused by the Datadog adapter."""
    cause = cut_middle(f"{cause_label}: {alert.cause}" if cause_label else alert.cause, EVENT_CAUSE_MAX)
    lines = [f"**{escape_markdown(alert.title)}**", "", escape_markdown(cause), ""]
    lines += [f"- {escape_markdown(label)}: {escape_markdown(value)}" for label, value in alert.fields]
    if alert.links:
        lines += ["", " · ".join(f"[{escape_markdown(link.label)}]({link.url})" for link in alert.links)]
    return "\n".join(lines)


def _tally(members: tuple[StormMember, ...], count: int) -> str:
    """ "3 failed · 1 recovered on retry · 1 retrying", worst first; runs not remembered count as failed."""
    by_state = {s: sum(1 for m in members if m.state is s) for s in MemberState}
    by_state[MemberState.FAILED] += max(0, count - len(members))
    ordered = sorted(MemberState, key=lambda s: -s.rank)
    return " · ".join(f"{by_state[s]} {s.value}" for s in ordered if by_state[s])


def _member_lines(members: tuple[StormMember, ...], count: int) -> list[str]:
    """One line per run not named in the storm's thread, oldest first (past MEMBERS_NAMED, the open
    ones first); then how many the thread names, and how many are counted but not remembered."""
    in_thread = sum(1 for m in members if m.listed)
    named = [m for m in members if not m.listed]
    if len(named) > MEMBERS_NAMED:
        named = sorted(named, key=lambda m: -m.state.rank)[:MEMBERS_NAMED]
    lines = [f"• {m.label}: {m.state.value}" for m in named]
    if in_thread:
        lines.append(words.storm_named_in_thread(in_thread))
    if count > len(named) + in_thread:
        lines.append(f"… and {count - len(named) - in_thread} more")
    return lines


def datadog_event(report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> DatadogEvent:
    alert = alert_for(report, attempt)
    stopped = report.event.timeline.stopped or report.event.event_time
    return DatadogEvent(
        title=alert.title,
        text=event_markdown(alert, cause_label="Cause"),
        # A routine scheduler stop (a clean scale-in) is recorded, not raised: no warning for monitors.
        alert_type="info" if _routine(report) else alert.severity,
        aggregation_key=_aggregation_key(report, attempt),
        # The chain id is on events only: as a metric tag it would make a new series for every chain.
        tags=tags_for(report, attempt) + _chain_tags(attempt.chain),
        date_happened=int(stopped.timestamp()) if stopped else 0,
    )


def metric_points(report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> list[MetricPoint]:
    """A stop's figures as Datadog series (run time, total, exit code, the run's count); a start has
    none of its own: its latency goes out once per run through :func:`start_points`."""
    tags = tags_for(report, attempt)
    d, t = report.durations, report.event.timeline
    points: list[MetricPoint] = []
    if report.phase is RunPhase.STARTED:
        return points
    at = _epoch(t.stopped or report.event.event_time)
    _gauge(points, "duration", d.run_time, at, tags)
    _gauge(points, "total_duration", d.total, at, tags)
    if report.exit_code is not None:
        points.append(MetricPoint(f"{METRIC_PREFIX}.exit_code", float(report.exit_code), at, tags))
    points.append(MetricPoint(f"{METRIC_PREFIX}.count", 1.0, at, tags, kind="count"))
    return points


def start_points(report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> list[MetricPoint]:
    """Start latency and image pull time, dated when the task started: sent once per run, from the
    RUNNING or the STOPPED report, whichever carries ``startedAt`` first."""
    d, t = report.durations, report.event.timeline
    at, tags = _epoch(t.started or report.event.event_time), tags_for(report, attempt)
    points: list[MetricPoint] = []
    _gauge(points, "start_latency", d.start_latency, at, tags)
    _gauge(points, "image_pull", d.image_pull, at, tags)
    return points


def _gauge(points: list[MetricPoint], name: str, value: float | None, at: int, tags: tuple[str, ...]) -> None:
    if value is not None:
        points.append(MetricPoint(f"{METRIC_PREFIX}.{name}", value, at, tags, unit="second"))


def _aggregation_key(report: RunReport, attempt: Attempt) -> str:
    # Retries of one run share the root's key, so Datadog rolls them up together.
    root = attempt.root_task_arn or report.event.task.arn
    return f"ecswatch:{report.job}:{root.rsplit('/', 1)[-1]}"[:100]


def _links(report: RunReport) -> tuple[Link, ...]:
    links = report.links
    out = []
    if links.log_stream:
        out.append(Link("Log stream", links.log_stream))
    out.append(Link("ECS task", links.task))
    if links.logs_insights:
        out.append(Link("Logs Insights", links.logs_insights))
    out.append(Link("Task definition", links.task_definition))
    return tuple(out)


def _chain_fields(chain: ChainLink | None) -> tuple[tuple[str, str], ...]:
    if chain is None:
        return ()
    fields: list[tuple[str, str]] = []
    if chain.triggered_by:
        # A task's ARN, or the ``launch:<eventID>`` of a failed launch (a run that created no task).
        by = chain.triggered_by
        run = f"task {by.rsplit('/', 1)[-1]}" if by.startswith("arn:") else by
        fields.append(("Triggered by", f"{chain.triggered_by_job or 'another job'} ({run})"))
    if chain.starts:
        fields.append(("Starts", ", ".join(chain.starts)))
    return tuple(fields)


def _chain_links(chain: ChainLink | None) -> tuple[Link, ...]:
    """The run that started this one, one click away."""
    if chain is None or not chain.triggered_by:
        return ()
    try:
        ref = TaskRef.from_arns(chain.triggered_by, None)
    except MalformedEvent:
        return ()
    label = f"Triggered by {chain.triggered_by_job}" if chain.triggered_by_job else "Triggering run"
    return (Link(label, ecs_task_url(ref.region, ref.cluster or "default", ref.task_id)),)


def _chain_tags(chain: ChainLink | None) -> tuple[str, ...]:
    return (f"chain_id:{chain.chain_id}",) if chain is not None else ()


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _epoch(value: datetime | None) -> int:
    return int(value.timestamp()) if value else int(datetime.now(UTC).timestamp())


def _routine(report: RunReport) -> bool:
    return report.outcome is Outcome.STOPPED_BY_SCHEDULER and is_routine_scheduler_stop(
        report.event, report.exit_code
    )


def is_alertable(report: RunReport, *, notify_success: bool) -> bool:
    """Failures reach Slack; successes only when the job asks; starts never. A service task the
    scheduler stopped in the course of its work (a scale-in that exited cleanly) is no failure;
    its health-check kills and non-zero exits are."""
    if report.phase is RunPhase.STARTED or report.outcome is None:
        return False
    if report.outcome is Outcome.STOPPED_BY_SCHEDULER:
        return not _routine(report)
    return report.outcome is not Outcome.SUCCEEDED or notify_success
