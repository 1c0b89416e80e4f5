"""The fakes' fault switches, driven over their control API as a process other than the stack's
would drive them: each fault reaches the real client, fails the record, and the redelivery
delivers exactly once. Later fault suites (Slack timeouts, Datadog) build on these switches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.fake_datadog import EVENTS_PATH
from local.fake_slack import control
from local.lambda_runtime import sqs_batch
from local.stack import Stack
from tests.faults.conftest import POST, as_task, deliver

LoadEvent = Callable[[str], dict[str, Any]]


def test_slack_ok_false_on_demand_fails_the_record_and_the_redelivery_posts_once(
    stack: Stack, load_event: LoadEvent
) -> None:
    batch = sqs_batch(as_task(load_event("stopped-oom"), "e" * 32))
    control(stack.slack.url, "fault", {"method": "chat.postMessage", "error": "fatal_error", "times": 1})

    assert len(deliver(batch)) == 1
    assert deliver(batch) == []

    answered = [(r["status"], '"ok": false' in r["body"]) for r in control(stack.slack.url, "requests")]
    assert answered.count((200, False)) >= 1
    assert len(control(stack.slack.url, "messages")) == 1


def test_a_datadog_500_on_demand_fails_the_record_and_the_redelivery_sends_one_event(
    stack: Stack, load_event: LoadEvent
) -> None:
    batch = sqs_batch(as_task(load_event("stopped-oom"), "f" * 32))
    control(stack.datadog.url, "fault", {"path": EVENTS_PATH, "status": 500, "times": 3})

    assert len(deliver(batch)) == 1
    assert deliver(batch) == []

    statuses = [r["status"] for r in control(stack.datadog.url, "requests") if r["path"] == EVENTS_PATH]
    assert 500 in statuses
    assert statuses.count(202) == 1
    assert len([p for p in stack.slack.calls(POST) if p.status == 200]) == 1
