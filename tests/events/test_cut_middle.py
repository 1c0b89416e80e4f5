"""Long causes are cut in the middle: what failed (the start) and AWS's advice (the end) both survive,
in the report, the failed-launch cause, Slack and Datadog (issue 14, "Alerts that do not promise...")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from ecswatch.adapters.slack import TEXT_MAX, render_blocks
from ecswatch.cli.views import record_json
from ecswatch.events.cloudtrail import CAUSE_LIMIT, launch_cause, parse_launch
from ecswatch.events.text import ELLIPSIS, cut_middle
from ecswatch.history.records import run_record
from ecswatch.notifications.alerts import alert_for, datadog_event
from tests.fakes import SampleReport

EVENTS = Path(__file__).parents[2] / "events"

#: The stoppedReason of events/stopped-secrets-failed.json: 413 characters, AWS's advice last.
SECRETS_REASON = json.loads((EVENTS / "stopped-secrets-failed.json").read_text())["detail"]["stoppedReason"]
ADVICE = "Please check your task network configuration."

#: CloudTrail's errorMessage of events/cloudtrail-runtask-access-denied.json.
ACCESS_DENIED = json.loads((EVENTS / "cloudtrail-runtask-access-denied.json").read_text())["detail"][
    "errorMessage"
]


def test_short_text_is_kept_whole() -> None:
    assert cut_middle(ADVICE, len(ADVICE)) == ADVICE


@pytest.mark.parametrize("limit", [60, 120, 200, 300])
def test_a_long_aws_reason_keeps_its_start_and_its_advice_with_an_ellipsis_between(limit: int) -> None:
    cut = cut_middle(SECRETS_REASON, limit)
    assert len(cut) <= limit
    assert cut.startswith("ResourceInitializationError")
    assert f" {ELLIPSIS} " in cut
    if limit >= 120:  # the advice fits in under half the room: kept whole
        assert cut.endswith(ADVICE)


def test_without_a_short_last_sentence_the_last_whole_words_are_kept() -> None:
    head, tail = cut_middle(ACCESS_DENIED, 120).split(f" {ELLIPSIS} ")
    assert ACCESS_DENIED.startswith(head)
    assert ACCESS_DENIED.endswith(tail)
    assert ACCESS_DENIED[-len(tail) - 1] == " "
    assert tail.endswith("policy allows the iam:PassRole action")


def test_the_run_report_cause_of_a_secrets_failure_ends_with_aws_advice(sample_report: SampleReport) -> None:
    report = sample_report("stopped-secrets-failed")
    assert len(report.cause) < len("could not fetch secrets or registry credentials: ") + len(SECRETS_REASON)
    assert report.cause.startswith(
        "could not fetch secrets or registry credentials: ResourceInitializationError"
    )
    assert ELLIPSIS in report.cause
    assert report.cause.endswith(ADVICE)


def test_a_long_failed_launch_cause_keeps_the_end_of_the_message(
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    raw = load_event("cloudtrail-runtask-access-denied")
    raw["detail"]["errorMessage"] = ACCESS_DENIED + " " + ACCESS_DENIED  # two refusals in one message
    launch = parse_launch(raw)
    cause = launch_cause(launch)
    assert len(cause) <= CAUSE_LIMIT
    assert cause.startswith("not allowed: AccessDeniedException — User: arn:aws:sts::")
    assert cause.endswith("allows the iam:PassRole action")
    assert ELLIPSIS in cause


def test_slack_and_datadog_show_the_advice_of_a_cause_too_long_for_them(sample_report: SampleReport) -> None:
    long_cause = "ResourceInitializationError: " + "service call has been retried. " * 200 + ADVICE
    alert = replace(alert_for(sample_report("stopped-secrets-failed")), cause=long_cause)
    cause_block = render_blocks(alert)[1].to_dict()
    text = cause_block["text"]["text"]
    assert len(text) <= TEXT_MAX
    assert text.startswith("ResourceInitializationError: service call has been retried.")
    assert text.endswith(f"{ELLIPSIS} {ADVICE}")


def test_the_datadog_event_carries_the_cause_cut_in_the_middle(sample_report: SampleReport) -> None:
    report = replace(
        sample_report("stopped-secrets-failed"),
        cause="ResourceInitializationError: " + "retried. " * 400 + ADVICE,
    )
    text = datadog_event(report).text
    assert f"{ELLIPSIS} {ADVICE}" in text
    assert "Cause: ResourceInitializationError: retried. retried." in text


def test_the_cli_shows_the_history_cause_with_aws_advice_at_its_end(sample_report: SampleReport) -> None:
    record = record_json(run_record(sample_report("stopped-secrets-failed")))

    assert f" {ELLIPSIS} " in record["cause"]
    assert record["cause"].endswith(ADVICE)
