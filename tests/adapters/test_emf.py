"""Specification of the CloudWatch EMF a run report becomes (``ecswatch.adapters.observability``).

A team without Datadog gets per-job graphs from these lines; the fleet's totals keep their own
dimension set so the dashboard's existing widgets read on. Job values are bounded: a task no
configured job names counts as ``other``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from ecswatch.adapters.observability import OTHER_JOB, EmfSink
from ecswatch.config.settings import Settings
from ecswatch.run import RunPhase, RunReport
from tests.fakes import report_from

LoadEvent = Callable[[str], dict[str, Any]]


def report_for(raw: dict[str, Any]) -> RunReport:
    return report_from(raw, settings=Settings(log_tail_lines=0))


def _blobs(
    report: RunReport, jobs: tuple[str, ...] = ("invoice-export",), *, start: bool = False
) -> list[dict[str, Any]]:
    lines: list[str] = []
    sink = EmfSink(namespace="ecswatch", service="ecswatch", jobs=jobs, write=lines.append)
    (sink.publish_start if start else sink.publish)(report)
    return [json.loads(line) for line in lines]


def test_a_stopped_run_counts_under_its_job_and_outcome_and_times_its_run(load_event: LoadEvent) -> None:
    report = replace(report_for(load_event("stopped-nonzero-exit")), job="invoice-export")

    (blob,) = _blobs(report)

    assert (blob["job"], blob["outcome"], blob["Runs"]) == ("invoice-export", "failed", 1)
    assert blob["RunDuration"] == report.durations.run_time
    dimension_sets = {
        m["Name"]: d["Dimensions"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert dimension_sets == {
        "RunDuration": [["service"], ["service", "job"]],
        "Runs": [["service", "outcome"], ["service", "job", "outcome"]],
    }


def test_a_task_no_configured_job_names_counts_as_other(load_event: LoadEvent) -> None:
    report = replace(report_for(load_event("stopped-nonzero-exit")), job="some-task-definition-family")

    (blob,) = _blobs(report)

    assert blob["job"] == OTHER_JOB


def test_the_metrics_are_dated_when_the_run_stopped_not_when_the_event_was_processed(
    load_event: LoadEvent,
) -> None:
    report = report_for(load_event("stopped-nonzero-exit"))
    assert report.event.timeline.stopped is not None

    (blob,) = _blobs(report)

    assert blob["_aws"]["Timestamp"] == int(report.event.timeline.stopped.timestamp() * 1000)


def test_a_runs_start_latency_goes_out_by_job_and_launch_type(load_event: LoadEvent) -> None:
    report = replace(report_for(load_event("running-fargate")), job="invoice-export")
    assert report.phase is RunPhase.STARTED
    assert report.event.timeline.started is not None

    (blob,) = _blobs(report, start=True)

    assert (blob["StartLatency"], blob["launch_type"]) == (report.durations.start_latency, "FARGATE")
    assert "Runs" not in blob
    assert blob["_aws"]["Timestamp"] == int(report.event.timeline.started.timestamp() * 1000)


def test_a_started_report_alone_has_no_stop_figures(load_event: LoadEvent) -> None:
    assert _blobs(report_for(load_event("running-fargate"))) == []


def test_a_stopped_report_carries_the_start_figures_too_for_a_run_whose_running_event_was_missed(
    load_event: LoadEvent,
) -> None:
    report = replace(report_for(load_event("stopped-nonzero-exit")), job="invoice-export")

    (blob,) = _blobs(report, start=True)

    assert blob["StartLatency"] == report.durations.start_latency
