"""The watchdog's open alerts, as ``ecswatch status`` shows them: read from its state, never recomputed.

The ALERTS column must not disagree with the watchdog. A missed run computed here from the
schedule would (the watchdog also knows since when it watches a job, the rule's or schedule's own
expression, a run that is alive right now, the grace period it was deployed with), so the CLI reads
what the watchdog keeps in the state table (``WATCHDOG`` / ``JOB#<job>``,
:mod:`ecswatch.adapters.dynamodb.watchdog_state`): ``missed`` is the expected start of the missed-run
alert it raised and has not yet closed with a recovery.

Overruns and stuck starts are alerted once per task and kept only as once-guard records (hashed
idempotency keys that expire), not per job, so there is nothing to read them back from: status shows
a running run's time so far instead, next to the job's usual run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecswatch.adapters.dynamodb.watchdog_state import DynamoWatchdogState
from ecswatch.cli.views import when
from ecswatch.errors import TransientError
from ecswatch.run import ScheduleWatch


@dataclass(frozen=True)
class OpenAlerts:
    """Each job's open watchdog alerts (one line each), or why they could not be read."""

    by_job: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    problem: str | None = None

    def of(self, job: str) -> tuple[str, ...]:
        return self.by_job.get(job, ())


def open_alerts(watches: Mapping[str, ScheduleWatch]) -> dict[str, tuple[str, ...]]:
    """The lines status shows for what the watchdog holds open; jobs with nothing open are left out."""
    return {
        job: (f"missed run expected {when(watch.missed)} UTC",)
        for job, watch in watches.items()
        if watch.missed is not None
    }


def read_open_alerts(client: Any, table: str) -> OpenAlerts:
    """One Query of the watchdog's items. A refused read does not hide the runs: it is reported
    as ALERTS unknown, with the reason, and status still prints."""
    try:
        watches = DynamoWatchdogState(client, table).schedule_watches()
    except TransientError as e:
        return OpenAlerts(problem=f"the watchdog's state was not read: {e}")
    return OpenAlerts(by_job=open_alerts(watches))
