"""Specification of a storm's roster: the grouped message lists at most ``MEMBERS_NAMED`` (45) runs;
past that, whole replies of 45 runs go into its thread and the message names the rest, so every
run is named, in the message or its thread, at one post per 45 runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecswatch.notifications.alerts import MEMBERS_NAMED, roster_replies, storm_alert
from ecswatch.notifications.notifier import with_listed
from ecswatch.run import MemberState, StormMember, StormState

START = datetime(2025, 3, 4, 5, 41, 44, tzinfo=UTC)


def member(n: int, *, listed: bool = False, state: MemberState = MemberState.FAILED) -> StormMember:
    return StormMember(
        run_key=f"arn:aws:ecs:eu-west-1:123456789012:task/batch/{n:032x}",
        label=f"{n:032x}",
        stopped=START + timedelta(seconds=n),
        cause="container 'export' exited 9",
        state=state,
        listed=listed,
    )


def storm(*members: StormMember, count: int | None = None) -> StormState:
    return StormState(
        job="invoice-export",
        count=len(members) if count is None else count,
        window_start=START,
        members=members,
    )


def named_in(state: StormState) -> list[str]:
    """The run ids the thread's replies and then the message name, in that order."""
    replies = roster_replies(state)
    in_thread = [line[2:] for alert, _ in replies for line in alert.cause.splitlines()]
    posted = with_listed(state, {m.run_key for _, runs in replies for m in runs})
    message = storm_alert(posted).cause.splitlines()
    return in_thread + [line[2:].split(":")[0] for line in message if line.startswith("• ")]


def test_a_storm_its_message_can_list_needs_no_reply() -> None:
    state = storm(*(member(n) for n in range(1, MEMBERS_NAMED + 1)))

    assert roster_replies(state) == []
    assert named_in(state) == [f"{n:032x}" for n in range(1, MEMBERS_NAMED + 1)]


def test_one_run_past_the_message_puts_the_45_oldest_in_one_reply_and_the_message_names_the_rest() -> None:
    state = storm(*(member(n) for n in range(1, MEMBERS_NAMED + 2)))

    [(reply, runs)] = roster_replies(state)

    assert reply.title == "invoice-export failing: runs 1 to 45 of 46 in this storm"
    assert reply.severity == "info"
    assert reply.run_key == storm_alert(state).run_key  # the storm's own key
    assert reply.cause.splitlines()[0] == f"• {1:032x}"
    assert len(runs) == MEMBERS_NAMED
    message = storm_alert(with_listed(state, {m.run_key for m in runs})).cause
    assert f"• {46:032x}: failed" in message
    assert "… and 45 more, named in the thread" in message


def test_every_run_of_a_large_storm_is_named_once_at_one_reply_per_45_runs() -> None:
    state = storm(*(member(n) for n in range(1, 201)))

    assert len(roster_replies(state)) == 4
    assert sorted(named_in(state)) == [f"{n:032x}" for n in range(1, 201)]


def test_runs_named_already_are_not_named_again_and_the_numbers_go_on() -> None:
    members = [member(n, listed=n <= 45) for n in range(1, 92)]

    [(reply, runs)] = roster_replies(storm(*members))

    assert reply.title == "invoice-export failing: runs 46 to 90 of 91 in this storm"
    assert [m.label for m in runs] == [f"{n:032x}" for n in range(46, 91)]


def test_runs_counted_but_not_remembered_are_counted_in_the_message() -> None:
    members = [member(n, listed=n <= 45) for n in range(1, 50)]

    message = storm_alert(storm(*members, count=1200)).cause

    assert "… and 45 more, named in the thread" in message
    assert "… and 1151 more" in message
