"""Storms under faults, through the real handler: the grouped message tells the truth about every
member and names every run, whatever Slack does and whenever the events are processed.

Each test drives ``ecswatch.handlers.task_events.lambda_handler`` with SQS batches over the offline
stack (see conftest); faults are injected in the fake Slack per method. Issue 13 items 1, 2, 11, 12.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from ecswatch.adapters.dynamodb import state as state_module
from ecswatch.adapters.dynamodb.state import DynamoNotificationState
from ecswatch.run import Lineage
from local.fake_slack import control, render
from local.faults import failed_run
from local.lambda_runtime import sqs_batch
from local.stack import STATE_TABLE, Stack
from tests.faults.conftest import POST, deliver, named, top_level

LoadEvent = Callable[[str], dict[str, Any]]
ARN_PREFIX = "arn:aws:ecs:eu-west-1:123456789012:task/batch/"
A, B, C = "a" * 32, "b" * 32, "c" * 32


def failure(
    load_event: LoadEvent, task_id: str, *, exit_code: int = 2, later: timedelta | None = None
) -> Any:
    """invoice-export's failed run as another task (see :func:`local.faults.failed_run`)."""
    return failed_run(load_event("stopped-nonzero-exit"), task_id, exit_code=exit_code, later=later)


def retry_succeeded(load_event: LoadEvent, root_id: str, task_id: str) -> Any:
    """Attempt 2 of ``root_id``'s run, started by the retry launcher (its lineage recorded, as the
    launcher does right after RunTask), succeeding."""
    DynamoNotificationState(boto3.client("dynamodb"), STATE_TABLE).record_lineage(
        ARN_PREFIX + task_id,
        Lineage(root_task_arn=ARN_PREFIX + root_id, attempt=2, of=3, job="invoice-export"),
    )
    event = failure(load_event, task_id, exit_code=0)
    event["detail"]["startedBy"] = "ecswatch-retry/2"
    return event


def test_a_storm_where_one_run_recovers_and_one_failed_for_good_never_says_recovered(
    stack: Stack, load_event: LoadEvent
) -> None:
    """Item 1: run A (exit 2, retried) and run B (exit 9, failed for good) share a message; when A's
    retry succeeds, the message said "invoice-export recovered after 1 retry" and B was gone."""
    assert deliver(sqs_batch(failure(load_event, A), failure(load_event, B, exit_code=9))) == []
    assert deliver(sqs_batch(retry_succeeded(load_event, A, C))) == []

    [storm] = top_level(stack)
    shown = render(storm)
    assert "invoice-export failing: 2 failed runs since 2025-03-04 05:41:44 UTC" in shown
    assert "1 failed · 1 recovered on retry" in shown
    assert f"• {A}: recovered on retry" in shown
    assert f"• {B}: failed" in shown
    replies = [render(m) for m in stack.slack.messages() if m.thread_ts == storm.ts]
    assert any("recovered on attempt 2/3" in reply for reply in replies)
    assert any("retry 2/3 scheduled" in reply for reply in replies)


def test_a_claimant_slack_refuses_is_taken_over_and_the_message_names_every_member(
    stack: Stack, load_event: LoadEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 2: A claims the post and Slack answers 500 until A's item fails; B joins after A's lease
    ran out (as it has after any visibility timeout) and posts one message naming A and B; A's
    redelivery posts nothing more. The fault is set over the fake's control API."""
    monkeypatch.setattr(state_module, "POST_LEASE_SECONDS", 1)
    control(stack.slack.url, "fault", {"method": "chat.postMessage", "status": 500, "times": 10})
    assert len(deliver(sqs_batch(failure(load_event, A, exit_code=9)))) == 1
    control(stack.slack.url, "clear", {})
    time.sleep(2.1)  # the lease is over

    assert deliver(sqs_batch(failure(load_event, B, exit_code=9))) == []
    assert deliver(sqs_batch(failure(load_event, A, exit_code=9))) == []  # A's redelivery

    assert len([p for p in stack.slack.calls(POST) if p.status == 200]) == 1
    assert named(stack, [A, B]) == {A: True, B: True}
    assert "2 failed runs" in render(top_level(stack)[0])


def test_a_member_that_joins_while_the_post_is_held_is_named_by_the_claimants_redelivery(
    stack: Stack, load_event: LoadEvent
) -> None:
    """Item 2, the other timing: B arrives while A's lease holds (A's post failed moments ago). B
    waits for the post, then fails its item rather than succeed unannounced; A's redelivery posts
    with both; B's redelivery adds nothing."""
    stack.slack.fault("chat.postMessage", status=500, times=10)
    assert len(deliver(sqs_batch(failure(load_event, A, exit_code=9)))) == 1
    stack.slack.clear()

    assert len(deliver(sqs_batch(failure(load_event, B, exit_code=9)))) == 1  # waited; redelivered later
    assert deliver(sqs_batch(failure(load_event, A, exit_code=9))) == []
    assert deliver(sqs_batch(failure(load_event, B, exit_code=9))) == []

    assert len([p for p in stack.slack.calls(POST) if p.status == 200]) == 1
    assert named(stack, [A, B]) == {A: True, B: True}


def test_failures_days_apart_are_never_grouped_however_close_their_processing(
    stack: Stack, load_event: LoadEvent
) -> None:
    """Item 11: the window is in the runs' own stop times, not the processing clock."""
    batch = sqs_batch(
        failure(load_event, A, exit_code=9), failure(load_event, B, exit_code=9, later=timedelta(days=2))
    )

    assert deliver(batch) == []

    titles = [render(m).splitlines()[0] for m in top_level(stack)]
    assert titles == ["❌ invoice-export failed (no retry: exit 9 matched evaluate_on_exit[1] EXIT)"] * 2


def test_the_storm_shows_the_count_stored_and_every_run_when_the_burst_ends(
    stack: Stack, load_event: LoadEvent
) -> None:
    """Item 11: seven failures in one batch; milestones update at 2-5 only, and the message said
    "5 failed runs" while 7 were stored. The end of the invocation shows all seven."""
    ids = [f"{i:032x}" for i in range(1, 8)]

    assert deliver(sqs_batch(*(failure(load_event, i, exit_code=9) for i in ids))) == []

    [storm] = top_level(stack)
    assert "invoice-export failing: 7 failed runs since 2025-03-04 05:41:44 UTC" in render(storm)
    assert all(named(stack, ids).values())


def test_a_storm_larger_than_its_message_names_every_run_in_its_thread_once(
    stack: Stack, load_event: LoadEvent
) -> None:
    """The grouped message lists 45 runs (Slack's limits); past that, whole replies of 45 runs go
    into the storm's thread and the message names the rest, so none of a large storm goes
    unannounced (issue 13). 60 failures arrive in batches of 10, as SQS hands them to one container."""
    ids = [f"{n:032x}" for n in range(1, 61)]
    for first in range(0, len(ids), 10):
        batch = sqs_batch(*(failure(load_event, i, exit_code=9) for i in ids[first : first + 10]))
        assert deliver(batch) == []

    assert named(stack, ids) == dict.fromkeys(ids, True)
    [storm] = top_level(stack)
    assert "invoice-export failing: 60 failed runs" in render(storm)
    assert "… and 45 more, named in the thread" in render(storm)
    replies = [m for m in stack.slack.messages() if m.thread_ts == storm.ts]
    [roster] = [render(m) for m in replies if "in this storm" in render(m)]  # one post per 45 runs
    in_thread = [line.strip()[2:] for line in roster.splitlines() if line.strip().startswith("• ")]
    in_message = [
        line.strip()[2:].split(":")[0] for line in render(storm).splitlines() if line.strip().startswith("• ")
    ]
    assert sorted(in_thread + in_message) == ids  # each run named once


def test_a_window_of_one_run_keeps_that_runs_own_words_when_a_later_run_closes_it(
    stack: Stack, load_event: LoadEvent
) -> None:
    """A window with one run shows that run's own alert (and its news: "retrying"); when a run
    stopping after the window ends closes it (here in the same batch, before the end of the
    invocation shows the news), it is not re-rendered as a storm of one."""
    later = failure(load_event, B, exit_code=9, later=timedelta(minutes=10))
    assert deliver(sqs_batch(failure(load_event, A), later)) == []

    first, second = top_level(stack)
    assert render(first).splitlines()[0] == "⚠️ invoice-export failed, retrying (attempt 2/3)"
    assert "failed run" not in render(first)
    assert B in render(second)


def test_a_roster_reply_whose_record_cannot_be_written_is_not_posted_again(
    stack: Stack, load_event: LoadEvent
) -> None:
    """The reply naming 45 runs is posted, then DynamoDB refuses the write that marks them named: the
    item fails, and its redelivery finds the reply by its key instead of posting it a second time."""
    ids = [f"{n:032x}" for n in range(1, 51)]
    batch = sqs_batch(*(failure(load_event, i, exit_code=9) for i in ids))
    stack.dynamodb.fail("UpdateItem", contains='":yes"', code="AccessDeniedException", times=1000)

    failed = deliver(batch)
    stack.dynamodb.clear()
    redelivered = {"Records": [r for r in batch["Records"] if r["messageId"] in failed]}
    assert failed
    assert deliver(redelivered) == []

    assert named(stack, ids) == dict.fromkeys(ids, True)
    [storm] = top_level(stack)
    rosters = [m for m in stack.slack.messages() if m.thread_ts == storm.ts and "in this storm" in render(m)]
    assert len(rosters) == 1
