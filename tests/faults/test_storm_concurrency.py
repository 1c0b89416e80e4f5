"""Storms under concurrent invocations: several handler processes started together, as SQS feeds
several Lambda instances at once (issue 13 item 12).

Each process is a cold container of its own (``local.stack.handlers_at_once``), released at a
barrier once its dependencies are built, against one shared stack in the test's process: moto in
server mode plus the fake Slack and Datadog endpoints. moto does not apply a DynamoDB conditional
write atomically when requests arrive concurrently (it reads, then writes, without a lock), so the
suite's moto serializes DynamoDB requests (``SerializedMotoServer``), as the real service applies
each conditional write atomically; without that, the test would measure moto's races, not ours.

Records that fail are delivered again, as SQS would after the visibility timeout, until none fail
(at most three rounds). Sizes: 2 and 4 failures at one instant, one failure delivered to four
processes at once, a window ending during a slow post, 40 failures from four processes (one batch
each), and the issue's 200 failures from four processes: each process a container invoked with five
batches of 10 in turn (``local.stack.invocations_at_once``), about 50 s on a shared 2-core machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from local.fake_slack import render
from local.faults import state_items
from local.lambda_runtime import sqs_batch
from local.stack import Stack, handlers_at_once, invocations_at_once
from tests.faults.conftest import POST, named, top_level
from tests.faults.test_storm_faults import failure

LoadEvent = Callable[[str], dict[str, Any]]


def at_once_until_done(batches: list[dict[str, Any]]) -> int:
    """Deliver the batches in parallel processes, then the failed records again (in parallel), until
    none fail; the number of rounds it took."""
    for round_number in range(1, 4):
        answers = handlers_at_once(batches)
        assert not [a["error"] for a in answers if "error" in a]
        failed = [{i["itemIdentifier"] for i in a["batchItemFailures"]} for a in answers]
        batches = [
            {"Records": [r for r in batch["Records"] if r["messageId"] in ids]}
            for batch, ids in zip(batches, failed, strict=True)
            if ids
        ]
        if not batches:
            return round_number
    raise AssertionError(f"records still failing after 3 rounds: {batches}")


def posted(stack: Stack) -> int:
    return len(
        [p for p in stack.slack.calls(POST) if p.status == 200 and '"thread_ts"' not in p.body.decode()]
    )


def test_two_failures_of_one_job_at_the_same_instant_make_one_message_naming_both(
    stack: Stack, load_event: LoadEvent
) -> None:
    ids = ["a" * 32, "b" * 32]

    at_once_until_done([sqs_batch(failure(load_event, i, exit_code=9)) for i in ids])

    assert posted(stack) == 1
    [storm] = top_level(stack)
    assert "invoice-export failing: 2 failed runs" in render(storm)
    assert all(f"• {i}: failed" in render(storm) for i in ids)


def test_four_failures_of_one_job_from_four_processes_are_all_named_in_the_final_message(
    stack: Stack, load_event: LoadEvent
) -> None:
    ids = [f"{i:032x}" for i in range(1, 5)]

    at_once_until_done([sqs_batch(failure(load_event, i, exit_code=9)) for i in ids])

    assert posted(stack) == 1
    [storm] = top_level(stack)
    assert "invoice-export failing: 4 failed runs" in render(storm)
    assert all(f"• {i}: failed" in render(storm) for i in ids)


def test_one_failure_delivered_to_four_processes_at_once_is_posted_once(
    stack: Stack, load_event: LoadEvent
) -> None:
    event = failure(load_event, "d" * 32, exit_code=9)

    at_once_until_done([sqs_batch(event) for _ in range(4)])

    assert posted(stack) == 1
    assert len(stack.datadog.events()) == 1
    assert named(stack, ["d" * 32]) == {"d" * 32: True}


def test_a_window_that_ends_while_its_message_is_being_posted_slowly_loses_no_run(
    stack: Stack, load_event: LoadEvent
) -> None:
    """A and B stopped in one window, C ten minutes later; all three at once while Slack takes 2 s to
    answer the first post. When C comes after A, it waits for the window's message before closing
    it; when C comes first, A and B are late runs that meet in a window of their own. Either way:
    A and B in one message, C in its own; every run named, one message per window."""
    stack.slack.fault("chat.postMessage", status=200, delay=2.0)
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    batches = [
        sqs_batch(failure(load_event, a, exit_code=9)),
        sqs_batch(failure(load_event, b, exit_code=9, later=timedelta(seconds=30))),
        sqs_batch(failure(load_event, c, exit_code=9, later=timedelta(minutes=10))),
    ]

    at_once_until_done(batches)

    assert posted(stack) == 2
    first, second = sorted(top_level(stack), key=lambda m: c in render(m))
    assert f"• {a}: failed" in render(first)
    assert f"• {b}: failed" in render(first)
    assert c not in render(first)
    assert c in render(second)
    assert a not in render(second)


def test_forty_failures_from_four_processes_make_one_message_that_names_all_forty(
    stack: Stack, load_event: LoadEvent
) -> None:
    ids = [f"{i:032x}" for i in range(1, 41)]
    batches = [sqs_batch(*(failure(load_event, i, exit_code=9) for i in ids[n::4])) for n in range(4)]

    at_once_until_done(batches)

    assert posted(stack) == 1
    [storm] = top_level(stack)
    assert "invoice-export failing: 40 failed runs" in render(storm)
    assert all(named(stack, ids).values())


def containers_until_done(invocations: list[list[dict[str, Any]]]) -> int:
    """Like :func:`at_once_until_done` for containers invoked several times each: every container
    gets its batches one after the other; the failed records come back to the same containers' places
    (new processes), in batches of 10, until none fail."""
    for round_number in range(1, 4):
        answers = invocations_at_once(invocations)
        assert not [a["error"] for batch_answers in answers for a in batch_answers if "error" in a]
        failed = {
            i["itemIdentifier"]
            for batch_answers in answers
            for a in batch_answers
            for i in a["batchItemFailures"]
        }
        again = [
            [r for batch in batches for r in batch["Records"] if r["messageId"] in failed]
            for batches in invocations
        ]
        invocations = [
            [{"Records": records[i : i + 10]} for i in range(0, len(records), 10)]
            for records in again
            if records
        ]
        if not invocations:
            return round_number
    raise AssertionError(f"records still failing after 3 rounds: {invocations}")


def test_two_hundred_failures_from_four_processes_are_all_named_counted_and_posted_once(
    stack: Stack, load_event: LoadEvent
) -> None:
    """Issue 13 item 12 at the issue's size: 200 failures of one job in one window, as SQS hands a
    burst to four Lambda instances: each container gets batches of 10 (the template's BatchSize),
    one invocation after the other, all four containers at once."""
    ids = [f"{i:032x}" for i in range(1, 201)]
    events = [failure(load_event, i, exit_code=9) for i in ids]
    invocations = [[sqs_batch(*events[n::4][i : i + 10]) for i in range(0, 50, 10)] for n in range(4)]

    containers_until_done(invocations)

    assert posted(stack) == 1
    [storm] = top_level(stack)
    assert "invoice-export failing: 200 failed runs" in render(storm)
    [window] = [item for item in state_items() if item["pk"]["S"] == "STORM#invoice-export"]
    assert int(window["count"]["N"]) == 200
    assert len(window["roster"]["M"]) == 200
    datadog = [json.dumps(event) for event in stack.datadog.events()]
    assert {i: sum(i in event for event in datadog) for i in ids} == dict.fromkeys(ids, 1)
    # Past the 45 its message lists, the storm's thread names the others: every run is named.
    unnamed = [i for i, shown in named(stack, ids).items() if not shown]
    assert unnamed == []
