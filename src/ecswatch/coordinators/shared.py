"""What more than one coordinator needs: a run's result, the launcher's thread replies, the backoff
jitter, and the network a next attempt runs in."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import msgspec

from ecswatch.config.model import JobConfig
from ecswatch.events.task import TaskEvent
from ecswatch.notifications.render import human_duration
from ecswatch.ports import NetworkDiscovery
from ecswatch.retries.policy import RetryDecision
from ecswatch.run import Alert, Attempt, Lineage, RetryNote, RetryRequest


class RunResult(msgspec.Struct, frozen=True):
    attempt: Attempt
    decision: RetryDecision | None
    #: The run's job as lineage names it (a retry's own startedBy need not match the job's rules).
    job: str | None = None


def retry_note(decision: RetryDecision, attempt: Attempt, *, scheduled: bool) -> RetryNote:
    """What the attempt's alert says follows it: a retry only when the decision says RETRY and one is
    scheduled (``scheduled`` is False without a retry queue), else why not."""
    if decision.retries and scheduled and decision.next_attempt is not None:
        nxt = Attempt(number=decision.next_attempt, of=attempt.of).label
        return RetryNote(True, f"retry {nxt} follows in {human_duration(float(decision.delay_seconds or 0))}")
    if decision.retries:
        return RetryNote.none_because("no retry queue is configured")
    return RetryNote.none_because(decision.summary)


def jitter(rng: random.Random | None, key: str) -> random.Random:
    """The injected generator (tests), else one seeded with the run's key: a redelivery draws
    the same delay as the first delivery did."""
    return rng or random.Random(key)  # noqa: S311 -- backoff jitter, not cryptography


def network_for(
    event: TaskEvent, job: JobConfig, lineage: Lineage | None, discovery: NetworkDiscovery | None
) -> Mapping[str, Any] | None:
    """The job config wins; then the network that launched this attempt (retries and chains);
    then the EventBridge rule (or schedule) that started the first run."""
    if job.network is not None:
        return job.run_task_network()
    if lineage is not None and lineage.network is not None:
        return lineage.network
    if discovery is not None:
        return discovery.network_for(event.task.region, event.started_by, event.task_definition.arn)
    return None


def launch_news(request: RetryRequest, attempt: Attempt, title: str, severity: str, detail: str) -> Alert:
    """A reply in the run's thread about one launch of ``request`` (scheduled, started, refused)."""
    return Alert(
        run_key=request.root_task_arn,
        job=request.job,
        title=f"{request.job} {title}",
        severity=severity,
        outcome="retrying",
        cause=detail,
        fields=(("Attempt", attempt.label), ("Trigger", request.trigger), ("Reason", request.reason or "-")),
        links=(),
    )
