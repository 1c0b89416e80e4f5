"""Specification of a storm's roster: past the runs its message can list (``MEMBERS_NAMED``), a storm
names every run in its thread, each once, in replies of at most ``MEMBERS_NAMED`` runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msgspec.structs import replace

from ecswatch.notifications.alerts import MEMBERS_NAMED, roster_replies, storm_alert
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


def test_a_storm_its_message_can_list_needs_no_roster() -> None:
    assert roster_replies(storm(*(member(n) for n in range(1, MEMBERS_NAMED + 1)))) == []


def test_one_run_past_the_message_puts_every_run_in_the_thread_oldest_first() -> None:
    replies = roster_replies(storm(*(member(n) for n in range(1, MEMBERS_NAMED + 2))))

    assert [(alert.title, len(runs)) for alert, runs in replies] == [
        ("invoice-export failing: runs 1 to 45 of 46 in this storm", 45),
        ("invoice-export failing: runs 46 to 46 of 46 in this storm", 1),
    ]
    first, _ = replies[0]
    assert first.cause.splitlines()[0] == f"• {1:032x}: failed"
    assert first.severity == "info"
    assert first.run_key == storm_alert(storm(member(1))).run_key  # the storm's own key


def test_runs_named_already_are_not_named_again_and_the_numbers_go_on() -> None:
    members = [member(n, listed=n <= 46) for n in range(1, 50)]
    members[10] = replace(members[10], state=MemberState.RECOVERED)  # news does not list it again

    [(alert, runs)] = roster_replies(storm(*members))

    assert alert.title == "invoice-export failing: runs 47 to 49 of 49 in this storm"
    assert [m.label for m in runs] == [f"{n:032x}" for n in (47, 48, 49)]


def test_each_reply_names_its_runs_with_their_state() -> None:
    members = [member(n, state=MemberState.RETRYING if n % 2 else MemberState.FAILED) for n in range(1, 48)]

    lines = [line for alert, _ in roster_replies(storm(*members)) for line in alert.cause.splitlines()]

    assert lines[:2] == [f"• {1:032x}: retrying", f"• {2:032x}: failed"]
    assert len(lines) == 47
