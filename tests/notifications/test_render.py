"""Specification of ``ecswatch.notifications.render``:
Durations a person reads, and the one-screen text of a run report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from ecswatch.notifications.render import headline, human_duration, render_text, summary
from ecswatch.run import LogTail, RunReport
from tests.fakes import FixedLogs, SampleReport, report_from

LoadEvent = Callable[[str], dict[str, Any]]

EXPORT_TASK_ID = "f77fae8dc62fd89bd256b1c897d44a25"


# --- human_duration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "unknown"),
        (0.0, "0.0s"),
        (45.2, "45.2s"),
        (33.089, "33.1s"),
        (65.0, "1m05s"),
        (89.6, "1m30s"),
        (632.344, "10m32s"),
        (3600.0, "1h00m00s"),
        (3723.0, "1h02m03s"),
        (504106.73, "140h01m47s"),
    ],
)
def test_a_duration_reads_as_seconds_minutes_or_hours(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


# --- headline -----------------------------------------------------------------------------------------


def test_a_started_report_headline_gives_the_start_latency(sample_report: SampleReport) -> None:
    assert headline(sample_report("running-fargate")) == "nightly-report started after 33.1s"


def test_a_stopped_report_headline_gives_the_job_and_the_outcome_label(sample_report: SampleReport) -> None:
    assert headline(sample_report("stopped-oom")) == "image-resize out of memory"


# --- render_text --------------------------------------------------------------------------------------


@pytest.fixture
def failed_export(sample_report: SampleReport) -> RunReport:
    logs = FixedLogs(("uploading batch 62 of 97", "upstream answered 502", "exiting with status 2"))
    return sample_report("stopped-nonzero-exit", logs=logs)


def test_the_text_starts_with_the_outcome_and_the_cause(failed_export: RunReport) -> None:
    lines = render_text(failed_export).splitlines()

    assert lines[:2] == ["invoice-export failed", "  cause        container 'export' exited 2"]


def test_the_text_names_the_task_the_deciding_container_and_its_exit_code(failed_export: RunReport) -> None:
    text = render_text(failed_export)

    assert f"  task         batch/{EXPORT_TASK_ID}  (invoice-export:12, FARGATE)" in text
    assert "  container    export   exit code 2" in text


def test_the_text_gives_every_phase_duration(failed_export: RunReport) -> None:
    assert (
        "  durations    provisioning 17.2s · pull 21.5s · start latency 42.4s · run 10m32s"
        " · stopping 26.3s · total 11m42s"
    ) in render_text(failed_export)


def test_the_text_carries_the_task_definition_and_log_links(failed_export: RunReport) -> None:
    text = render_text(failed_export)

    assert f"  ECS task     {failed_export.links.task}" in text
    assert f"  definition   {failed_export.links.task_definition}" in text
    assert f"  log stream   {failed_export.links.log_stream}" in text
    assert f"  insights     {failed_export.links.logs_insights}" in text
    assert failed_export.links.log_stream is not None
    assert failed_export.links.log_stream.endswith(f"/log-events/ecs$252Fexport$252F{EXPORT_TASK_ID}")


def test_the_text_ends_with_the_log_tail(failed_export: RunReport) -> None:
    lines = render_text(failed_export).splitlines()

    assert lines[-4:] == [
        "  log tail:",
        "    | uploading batch 62 of 97",
        "    | upstream answered 502",
        "    | exiting with status 2",
    ]


def test_a_tail_that_was_cut_says_so(failed_export: RunReport) -> None:
    report = msgspec.structs.replace(failed_export, log_tail=LogTail(lines=("…last line",), truncated=True))

    assert "  log tail (cut to fit):\n    | …last line" in render_text(report)


def test_without_a_log_location_the_text_gives_the_reason_and_the_tail_note(load_event: LoadEvent) -> None:
    report = report_from(load_event("stopped-taskdef-deleted"), task_definition=None)

    text = render_text(report)

    reason = "task definition legacy-etl:2 could not be read (deleted or access denied); log location unknown"
    assert f"  log stream   none: {reason}" in text
    assert f"  log tail     {reason}" in text
    assert "insights" not in text


def test_a_successful_run_has_no_tail_section(sample_report: SampleReport) -> None:
    text = render_text(sample_report("stopped-success"))

    assert text.startswith("nightly-report succeeded\n")
    assert "log tail" not in text


def test_a_missing_exit_code_and_unknown_durations_are_shown_as_such(sample_report: SampleReport) -> None:
    text = render_text(sample_report("stopped-image-pull-failed"))

    assert "  container    sync   exit code -" in text
    assert "provisioning unknown · pull unknown · start latency unknown · run unknown" in text


# --- summary ------------------------------------------------------------------------------------------


def test_the_summary_is_one_flat_record_of_the_run(failed_export: RunReport) -> None:
    record = summary(failed_export)

    assert {k: record[k] for k in ("job", "phase", "outcome", "exit_code", "deciding_container")} == {
        "job": "invoice-export",
        "phase": "stopped",
        "outcome": "failed",
        "exit_code": 2,
        "deciding_container": "export",
    }
    assert (record["cluster"], record["task_definition"], record["run_time_s"], record["total_s"]) == (
        "batch",
        "invoice-export:12",
        632.344,
        701.576,
    )
    assert record["log_url"] == failed_export.links.log_stream
    assert all(not isinstance(value, dict | list) for value in record.values())
