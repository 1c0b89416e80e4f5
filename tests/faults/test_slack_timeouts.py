"""Slack stores a message but answers after the client's timeout: still one message per alert.

slack-sdk gives up after 5 s (``SlackPoster``'s timeout); the fake Slack, told to answer
``chat.postMessage`` slowly, stores the message and answers later, as Slack does when it is slow.
The item fails (TransientError) and SQS redelivers it; the redelivery must find the message it
already posted (its metadata carries the alert's key; ``conversations.history`` finds it) and adopt
it instead of posting a second identical alert. Issue 13 item 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from ecswatch.handlers import task_events
from local.fake_slack import SlackMessage
from local.lambda_runtime import sqs_batch
from local.stack import Stack
from tests.faults.conftest import POST, as_task, deliver, top_level
from tests.faults.test_storm_faults import failure, retry_succeeded

LoadEvent = Callable[[str], dict[str, Any]]
A, C = "a" * 32, "c" * 32
#: Longer than the client's 5 s timeout: the client gives up, then Slack stores the message.
SLOW_SECONDS = 5.5
HISTORY = "/api/conversations.history"
REPLIES = "/api/conversations.replies"
LIST = "/api/conversations.list"


def stored_after_timeout(stack: Stack, count: int) -> list[SlackMessage]:
    """Wait until the slow post has been stored (the client gave up before), as the redelivery,
    which comes after SQS's visibility timeout, always does."""
    deadline = time.monotonic() + 10
    while len(top_level(stack)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return top_level(stack)


@pytest.mark.parametrize("container", ["warm", "cold"])
def test_a_post_slack_stored_after_the_client_timed_out_is_adopted_not_posted_again(
    stack: Stack, load_event: LoadEvent, container: str
) -> None:
    """The first delivery's post times out (the item fails) while Slack stores it; the redelivery,
    in the same container or a new one, posts nothing more, and the run's later news goes into
    that one message's thread."""
    stack.slack.fault("chat.postMessage", status=200, delay=SLOW_SECONDS)
    batch = sqs_batch(failure(load_event, A))

    assert len(deliver(batch)) == 1
    [first] = stored_after_timeout(stack, 1)
    if container == "cold":
        task_events.dependencies.cache_clear()
    assert deliver(batch) == []
    assert deliver(sqs_batch(retry_succeeded(load_event, A, C))) == []

    assert [m.ts for m in top_level(stack)] == [first.ts]
    assert len(stack.slack.calls(POST)) - len(stack.slack.messages()) == 0  # no post refused or lost
    replies = [m for m in stack.slack.messages() if m.thread_ts is not None]
    assert replies, "the run's news went into no thread"
    assert {m.thread_ts for m in replies} == {first.ts}
    # what the redelivery cost: the channel's id (the timed-out post answered none), one history page
    assert [len(stack.slack.calls(path)) for path in (LIST, HISTORY, REPLIES)] == [1, 1, 0]


def test_an_alert_outside_any_storm_is_adopted_too(
    stack: Stack, load_event: LoadEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storms off (``STORM_WINDOW_SECONDS=0``): the run's own message, remembered as its thread."""
    monkeypatch.setenv("STORM_WINDOW_SECONDS", "0")
    task_events.dependencies.cache_clear()
    stack.slack.fault("chat.postMessage", status=200, delay=SLOW_SECONDS)
    batch = sqs_batch(as_task(load_event("stopped-oom"), A))

    assert len(deliver(batch)) == 1
    [first] = stored_after_timeout(stack, 1)
    assert deliver(batch) == []

    assert [m.ts for m in top_level(stack)] == [first.ts]


def test_a_post_that_slack_never_stored_is_posted_by_the_redelivery(
    stack: Stack, load_event: LoadEvent
) -> None:
    """The lookup finds nothing (Slack answered 500 and stored nothing): the alert is posted, once."""
    stack.slack.fault("chat.postMessage", status=500, times=2)
    batch = sqs_batch(failure(load_event, A, exit_code=9))

    assert len(deliver(batch)) == 1
    assert deliver(batch) == []

    assert len(top_level(stack)) == 1


def test_without_the_history_scopes_the_redelivery_posts_rather_than_never_alerting(
    stack: Stack, load_event: LoadEvent, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A token without channels:history cannot look: the lookup is off (a warning says so) and the
    redelivery posts again — the documented duplicate — instead of holding the alert back."""
    monkeypatch.setattr(stack.slack, "scopes", "chat:write")
    stack.slack.fault("chat.postMessage", status=200, delay=SLOW_SECONDS)
    batch = sqs_batch(failure(load_event, A, exit_code=9))

    assert len(deliver(batch)) == 1
    stored_after_timeout(stack, 1)
    assert deliver(batch) == []

    assert len(top_level(stack)) == 2
    assert "lookup after a timeout is off" in caplog.text
    assert [call.status for call in stack.slack.calls(HISTORY)] == [200]  # missing_scope, as Slack says it


def test_a_thread_reply_slack_stored_after_the_timeout_is_not_replied_twice(
    stack: Stack, load_event: LoadEvent
) -> None:
    """The recovery news of A's retry goes into the storm's thread; its post times out while Slack
    stores it; the redelivery finds it among the thread's replies (conversations.replies)."""
    assert deliver(sqs_batch(failure(load_event, A))) == []
    [storm] = top_level(stack)
    replies_before = len(stack.slack.messages()) - 1
    stack.slack.fault("chat.postMessage", status=200, delay=SLOW_SECONDS)
    batch = sqs_batch(retry_succeeded(load_event, A, C))

    assert len(deliver(batch)) == 1
    deadline = time.monotonic() + 10
    while len(stack.slack.messages()) < replies_before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deliver(batch) == []

    replies = [m for m in stack.slack.messages() if m.thread_ts == storm.ts]
    assert len(replies) == replies_before + 1
    assert len(stack.slack.calls(REPLIES)) == 1
