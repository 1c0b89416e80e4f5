"""A RunTask call that created no task, as a run of its job: the report, the alert, the retry request.

A failed launch has no task, so none of the task-event machinery applies as is: there
is no task ARN, no exit code, no log stream. It still is a failed run of its job for
on-call and for ecswatch: it is alerted through the same Slack/Datadog path (and joins
the job's failure storm), retried under the job's retry policy (a launch failure is
retryable unless the same request must fail again), and recorded in the run history.

Its run id is ``launch:<CloudTrail eventID>``: unique per call, stable across
redeliveries of the record, and the key of its Slack thread and its retries' lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from ecswatch.analysis.redact import redacted_launch
from ecswatch.config.model import JobConfig, JobsConfig, matching_job
from ecswatch.config.settings import Settings
from ecswatch.events.cloudtrail import (
    LaunchAttempt,
    is_ecswatch_launch,
    is_retryable_launch,
    launch_cause,
    launcher,
    parse_launch,
)
from ecswatch.run import Skipped

#: ``RunRecord.outcome`` and the Datadog ``outcome`` tag of a launch that created no task.
FAILED_TO_LAUNCH = "failed_to_launch"
RUN_ID_PREFIX = "launch:"


class FailedLaunch(msgspec.Struct, frozen=True):
    """One failed RunTask call, matched to its job and judged."""

    launch: LaunchAttempt
    job: str
    cause: str
    retryable: bool
    launched_by: str

    @property
    def run_id(self) -> str:
        return f"{RUN_ID_PREFIX}{self.launch.event_id}"

    @property
    def key(self) -> str:
        """Duplicates of one CloudTrail record share it (as ``RunReport.key`` does for task events)."""
        return f"{self.run_id}#failed"

    @property
    def happened_at(self) -> datetime:
        return self.launch.event_time


def process_launch_event(
    raw: Mapping[str, Any], *, settings: Settings, jobs: JobsConfig
) -> FailedLaunch | Skipped:
    """Raise ``MalformedEvent`` for an unreadable record; a successful call is skipped cheaply."""
    # AWS's words are redacted once, here: the cause, the alert, the event and the record use them.
    launch = redacted_launch(parse_launch(raw))
    if not launch.failed:
        return Skipped("RunTask succeeded; its task reports itself", kind="launch-succeeded")
    if is_ecswatch_launch(launch):
        # The retry launcher saw RunTask's answer itself and has already alerted (or will retry).
        return Skipped("ecswatch's own launch; the retry launcher reports it", kind="own-launch")
    if launch.cluster is not None and not settings.watches(launch.cluster):
        return Skipped(f"cluster {launch.cluster!r} is not watched", kind="cluster")
    return FailedLaunch(
        launch=launch,
        job=job_for_launch(jobs, launch).name,
        cause=launch_cause(launch),
        retryable=is_retryable_launch(launch),
        launched_by=launcher(launch),
    )


def job_for_launch(jobs: JobsConfig, launch: LaunchAttempt) -> JobConfig:
    """As :meth:`JobsConfig.job_for`: the matching job, or the defaults under the family's name."""
    return matching_job(jobs, launch) or jobs.default_job(launch.family or "unknown-task-definition")


# --------------------------------------------------------------------------- what people see


# --------------------------------------------------------------------------- retrying
