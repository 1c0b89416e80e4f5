"""The fault matrix counts what it claims to: lost alerts, duplicate posts and events, leaks.

Each counting rule is checked on a cell whose outcome the test makes known: a message naming the
run, a Datadog event naming it, a secret posted straight to the fake Slack (as if something had
leaked it), Slack refusing every post for good. Two of the matrix's own scenarios then run through
the real handler, and their counts hold what issue 13 requires (no secret anywhere, no alert lost).
Behaviour only: no timing is asserted (bench/ reports times; tests never judge them).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from bench import fault_matrix
from bench.fault_matrix import Cell, Fault, FaultMatrix, Scenario, Step, run_cell
from local.stack import DATADOG_KEY, SLACK_TOKEN, Stack

pytestmark = pytest.mark.offline

PLANTED = "tok_" + "PlantedByTheTestNotByTheHandler_42"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with fault_matrix.matrix_stack() as running:
        yield running


def _send(url: str, headers: dict[str, str], body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_a_run_named_twice_a_second_datadog_event_and_a_planted_secret_are_each_counted_once(
    stack: Stack,
) -> None:
    """Before the handler sees the run, the channel already has a top-level message naming it,
    Datadog an event naming it, and Slack a message carrying a secret: the handler's own alert is
    then the duplicate post, its event the duplicate event, and the secret one leak (Slack only)."""

    def plant(task_ids: Sequence[str]) -> None:
        slack = {"Authorization": f"Bearer {SLACK_TOKEN}"}
        _send(stack.slack.url + "/api/chat.postMessage", slack, {"channel": "#x", "text": task_ids[0]})
        _send(stack.slack.url + "/api/chat.postMessage", slack, {"channel": "#x", "text": PLANTED})
        event = {"title": "planted", "text": f"run {task_ids[0]}"}
        _send(stack.datadog.url + "/api/v1/events", {"DD-API-KEY": DATADOG_KEY}, event)

    scenario = Scenario(
        "planted",
        "a duplicate and a leak planted in the fakes",
        (Step((0,)),),
        documented={"posts": 1},
        prepare=plant,
        secrets=(PLANTED,),
    )

    cell = run_cell(stack, scenario, "first", cell_number=900)

    assert (cell.lost, cell.duplicate_posts, cell.duplicate_events, cell.leaks) == (0, 1, 1, 1)
    assert cell.leaked == [f"{PLANTED[:6]}… in slack"]
    assert (cell.documented_posts, cell.documented_events, cell.undocumented_duplicates) == (1, 0, 1)


def test_a_run_slack_never_accepts_is_lost_and_its_record_unsettled(stack: Stack) -> None:
    """Slack refuses every post for good (the outage lasts past every redelivery)."""
    refused = Fault("slack", "chat.postMessage", {"error": "channel_not_found", "times": 1000})
    scenario = Scenario("outage", "Slack refuses everything", (Step((0,), (refused,), lasting=True),))

    cell = run_cell(stack, scenario, "cold", cell_number=901)

    assert (cell.lost, cell.unsettled, cell.leaks) == (1, 1, 0)
    assert cell.deliveries == 1 + 1 + fault_matrix.MAX_ROUNDS  # first, the duplicate, every round


def test_the_secrets_scenario_leaks_nothing_and_a_refused_post_loses_nothing(stack: Stack) -> None:
    chosen = [s for s in fault_matrix.SCENARIOS if s.name in ("secrets", "slack-ok-false")]

    result = fault_matrix.measure(chosen, ("first", "cold"), stack=stack)

    assert [(c.scenario, c.mode) for c in result.cells] == [
        ("slack-ok-false", "first"),
        ("slack-ok-false", "cold"),
        ("secrets", "first"),
        ("secrets", "cold"),
    ]
    assert result.total("leaks") == 0
    assert result.total("lost") == 0


def test_the_goal_line_is_a_miss_for_a_leak_or_an_undocumented_duplicate_and_a_pass_otherwise() -> None:
    clean = Cell("slack-slow", "warm", 1, duplicate_posts=1, documented_posts=1)
    leaky = Cell("secrets", "first", 1, leaks=1, leaked=["tok_Pl… in logs"])
    doubled = Cell("done-write-fails", "cold", 1, duplicate_events=1)

    assert FaultMatrix((clean,), 1.0).goal.verdict == "PASS"
    assert FaultMatrix((clean, leaky), 1.0).goal.verdict == "MISS"
    assert FaultMatrix((clean, doubled), 1.0).misses == 1
    shown = fault_matrix.report(FaultMatrix((clean, leaky, doubled), 1.0))
    assert "1 (documented)" in shown
    assert "1 (0 documented)" in shown
    assert "leak: secrets/first: tok_Pl… in logs" in shown
    assert shown.splitlines()[-1].startswith("MISS")
