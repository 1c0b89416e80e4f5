"""Sinks that need no outside service: a structured log line and CloudWatch EMF metrics.

Every team gets these, with or without Datadog or Slack: the log line is what
Logs Insights queries, the EMF metrics feed the CloudWatch dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from ecswatch.notifications.render import headline, summary
from ecswatch.run import RunPhase, RunReport

logger = Logger(child=True)


class LogSink:
    def publish(self, report: RunReport) -> None:
        level = logger.warning if report.is_failure else logger.info
        level(headline(report), extra={"run": summary(report)})


class EmfSink:
    """Run figures as CloudWatch EMF: one log line per report, readable without Datadog.

    Each metric is written under two dimension sets in the same blob: the fleet's (``service``,
    plus ``outcome`` for ``Runs``) that the dashboard's totals read, and the job's (``job``, and
    ``outcome`` for ``Runs`` or ``launch_type`` for ``StartLatency``) for per-job graphs. Job
    values are bounded to the configured jobs, every other task counting as ``other``, so a
    cluster full of unconfigured tasks cannot multiply CloudWatch's metric count (and its bill).
    """

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        jobs: Collection[str] = (),
        write: Callable[[str], object] = print,
    ) -> None:
        self._namespace = namespace
        self._service = service
        self._jobs = frozenset(jobs)
        self._write = write

    def publish(self, report: RunReport) -> None:
        """A stop's run time and count (a start has none: see :meth:`publish_start`)."""
        if report.phase is RunPhase.STOPPED:
            self._emit(report, start=False)

    def publish_start(self, report: RunReport) -> None:
        """Start latency and image pull time, once per run, from whichever report carries them."""
        self._emit(report, start=True)

    def _emit(self, report: RunReport, *, start: bool) -> None:
        job = self.job_value(report.job)
        blob = emf_blob(report, namespace=self._namespace, service=self._service, job=job, start=start)
        if blob is not None:
            self._write(json.dumps(blob, separators=(",", ":")))

    def job_value(self, job: str) -> str:
        return job if job in self._jobs else OTHER_JOB


#: The ``job`` dimension of every task that no configured job names.
OTHER_JOB = "other"


def emf_blob(
    report: RunReport, *, namespace: str, service: str, job: str, start: bool = False
) -> dict[str, Any] | None:
    """The EMF document of one report's start figures (``start``) or stop figures, or None when it
    carries none (a run with no times)."""
    d = report.durations
    if start:
        figures = [("StartLatency", d.start_latency, "Seconds"), ("ImagePullTime", d.image_pull, "Seconds")]
        job_set = ["service", "job", "launch_type"]
    else:
        figures = [("RunDuration", d.run_time, "Seconds")]
        job_set = ["service", "job"]
    values: dict[str, Any] = {name: value for name, value, _ in figures if value is not None}
    directives = []
    if values:
        directives.append(
            {
                "Namespace": namespace,
                "Dimensions": [["service"], job_set],
                "Metrics": [
                    {"Name": name, "Unit": unit} for name, value, unit in figures if value is not None
                ],
            }
        )
    if not start and report.phase is RunPhase.STOPPED and report.outcome is not None:
        values["Runs"] = 1
        directives.append(
            {
                "Namespace": namespace,
                "Dimensions": [["service", "outcome"], ["service", "job", "outcome"]],
                "Metrics": [{"Name": "Runs", "Unit": "Count"}],
            }
        )
    if not directives:
        return None
    timeline = report.event.timeline
    moment = (timeline.started if start else timeline.stopped) or report.event.event_time
    return {
        "_aws": {
            "Timestamp": int((moment or datetime.now(UTC)).timestamp() * 1000),
            "CloudWatchMetrics": directives,
        },
        "service": service,
        "job": job,
        "outcome": report.outcome.value if report.outcome is not None else "running",
        "launch_type": (report.event.launch_type or "unknown").upper(),
        **values,
    }
