"""Specification of ``ecswatch.events.schedule``: when EventBridge runs a cron/rate/at schedule, what the
watchdog may call a missed run, and what each malformed expression says.

Dates were checked against a calendar: 2022-10-01 and 2024-06-15 are Saturdays; 2024-03-31,
2024-09-15 and 2024-11-03 are Sundays; 2024-08-31 is a Saturday. DST changes used: Europe/Dublin
2024-03-31 01:00 GMT -> 02:00 IST and 2024-10-27 02:00 IST -> 01:00 GMT; America/New_York
2024-03-10 02:00 EST -> 03:00 EDT and 2024-11-03 02:00 EDT -> 01:00 EST.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecswatch.events.schedule import ScheduleError, missed_run, parse_schedule

DUBLIN = "Europe/Dublin"
NEW_YORK = "America/New_York"
GRACE = timedelta(minutes=10)


def utc(text: str) -> datetime:
    """``"2024-05-01T02:00"`` -> that instant in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- next_after

# (expression, time zone, from, anchor or None, expected next run or None); times in UTC.
NEXT_RUNS = [
    pytest.param(
        "cron(0 2 * * ? *)", "UTC", "2024-05-01T01:59", None, "2024-05-01T02:00", id="later-same-day"
    ),
    pytest.param(
        "cron(0 2 * * ? *)", "UTC", "2024-05-01T02:00", None, "2024-05-02T02:00", id="strictly-after"
    ),
    pytest.param(
        "cron(0/15 * * * ? *)", "UTC", "2024-05-01T10:07", None, "2024-05-01T10:15", id="slash-step"
    ),
    pytest.param(
        "cron(0/15 * * * ? *)", "UTC", "2024-05-01T10:45", None, "2024-05-01T11:00", id="hour-rollover"
    ),
    pytest.param(
        "cron(1/10 * * * ? *)", "UTC", "2024-05-01T10:51", None, "2024-05-01T11:01", id="step-from-1"
    ),
    pytest.param(
        "cron(10-50/10 * * * ? *)", "UTC", "2024-05-01T10:50", None, "2024-05-01T11:10", id="range-with-step"
    ),
    pytest.param(
        "cron(0 */6 * * ? *)", "UTC", "2024-05-01T19:00", None, "2024-05-02T00:00", id="day-rollover"
    ),
    pytest.param("cron(0 9,17 * * ? *)", "UTC", "2024-05-01T09:00", None, "2024-05-01T17:00", id="comma"),
    pytest.param(
        "cron(0 18 ? * MON-FRI *)", "UTC", "2024-01-05T18:00", None, "2024-01-08T18:00", id="mon-fri-weekend"
    ),
    pytest.param(
        "cron(0 8 ? * 1,7 *)", "UTC", "2024-01-01T00:00", None, "2024-01-06T08:00", id="1-is-sunday"
    ),
    pytest.param(
        "cron(0 0 1 1 ? *)", "UTC", "2024-12-31T23:59", None, "2025-01-01T00:00", id="year-rollover"
    ),
    pytest.param(
        "cron(0 0 L * ? *)", "UTC", "2024-04-30T00:00", None, "2024-05-31T00:00", id="L-month-rollover"
    ),
    pytest.param(
        "cron(0 12 L 2 ? *)", "UTC", "2024-01-01T00:00", None, "2024-02-29T12:00", id="L-leap-february"
    ),
    pytest.param("cron(0 12 L 2 ? *)", "UTC", "2023-01-01T00:00", None, "2023-02-28T12:00", id="L-february"),
    pytest.param("cron(0 0 29 2 ? *)", "UTC", "2023-03-01T00:00", None, "2024-02-29T00:00", id="29-feb-leap"),
    pytest.param(
        "cron(0 0 29 2 ? *)", "UTC", "2024-03-01T00:00", None, "2028-02-29T00:00", id="29-feb-next-leap"
    ),
    pytest.param(
        "cron(0 0 31 * ? *)", "UTC", "2024-04-01T00:00", None, "2024-05-31T00:00", id="31-skips-april"
    ),
    pytest.param("cron(0 0 1/10 * ? *)", "UTC", "2024-01-21T00:00", None, "2024-01-31T00:00", id="dom-step"),
    pytest.param("cron(0 9 1W * ? *)", "UTC", "2022-09-30T00:00", None, "2022-10-03T09:00", id="1W-saturday"),
    pytest.param(
        "cron(0 9 15W * ? *)", "UTC", "2024-06-01T00:00", None, "2024-06-14T09:00", id="15W-saturday"
    ),
    pytest.param("cron(0 9 15W * ? *)", "UTC", "2024-09-01T00:00", None, "2024-09-16T09:00", id="15W-sunday"),
    pytest.param(
        "cron(0 9 31W * ? *)", "UTC", "2024-03-01T00:00", None, "2024-03-29T09:00", id="31W-last-sunday"
    ),
    pytest.param(
        "cron(0 9 31W * ? *)", "UTC", "2024-04-01T00:00", None, "2024-05-31T09:00", id="31W-no-31st"
    ),
    pytest.param("cron(0 9 LW * ? *)", "UTC", "2024-08-01T00:00", None, "2024-08-30T09:00", id="LW-saturday"),
    pytest.param(
        "cron(0 10 ? * 6#3 *)", "UTC", "2024-01-01T00:00", None, "2024-01-19T10:00", id="third-friday"
    ),
    pytest.param(
        "cron(0 10 ? * 2#5 *)", "UTC", "2024-02-01T00:00", None, "2024-04-29T10:00", id="fifth-monday"
    ),
    pytest.param(
        "cron(0 10 ? * FRI#1 *)", "UTC", "2024-03-02T00:00", None, "2024-04-05T10:00", id="name-hash"
    ),
    pytest.param(
        "cron(0 10 ? * 6L *)", "UTC", "2024-02-01T00:00", None, "2024-02-23T10:00", id="last-friday"
    ),
    pytest.param(
        "cron(0 10 ? * 1L *)", "UTC", "2024-03-01T00:00", None, "2024-03-31T10:00", id="last-sunday"
    ),
    pytest.param(
        "cron(0 8 ? * L *)", "UTC", "2024-01-01T00:00", None, "2024-01-06T08:00", id="L-alone-is-sat"
    ),
    pytest.param("cron(0 0 1 JAN,JUL ? *)", "UTC", "2024-01-01T00:00", None, "2024-07-01T00:00", id="months"),
    pytest.param("cron(0 0 1 * ? 2030)", "UTC", "2024-06-01T00:00", None, "2030-01-01T00:00", id="year"),
    pytest.param(
        "cron(0 0 1 1 ? 2024/2)", "UTC", "2024-06-01T00:00", None, "2026-01-01T00:00", id="year-step"
    ),
    pytest.param("cron(0 0 1 1 ? 2020-2022)", "UTC", "2024-01-01T00:00", None, None, id="past-years"),
    pytest.param("cron(0 0 1 1 ? *)", "UTC", "2199-01-01T00:00", None, None, id="after-2199"),
    pytest.param("cron(0 0 30 2 ? *)", "UTC", "1970-01-01T00:00", None, None, id="30-feb-never"),
    pytest.param(
        "cron(0 2 * * ? *)",
        "UTC",
        "2024-05-01T00:00",
        "2024-05-10T00:00",
        "2024-05-10T02:00",
        id="cron-anchor",
    ),
    # Scheduler expressions in a time zone: a skipped local time does not run; a repeated one runs once.
    pytest.param(
        "cron(0 9 * * ? *)", DUBLIN, "2024-07-01T00:00", None, "2024-07-01T08:00", id="dublin-summer"
    ),
    pytest.param("cron(30 1 * * ? *)", DUBLIN, "2024-03-30T12:00", None, "2024-04-01T00:30", id="dublin-gap"),
    pytest.param(
        "cron(30 1 * * ? *)", DUBLIN, "2024-10-26T12:00", None, "2024-10-27T00:30", id="dublin-repeat"
    ),
    pytest.param(
        "cron(30 1 * * ? *)", DUBLIN, "2024-10-27T00:30", None, "2024-10-28T01:30", id="dublin-once"
    ),
    pytest.param(
        "cron(0/15 * * * ? *)", DUBLIN, "2024-10-27T01:10", None, "2024-10-27T02:00", id="dublin-second-pass"
    ),
    pytest.param("cron(30 2 * * ? *)", NEW_YORK, "2024-03-09T12:00", None, "2024-03-11T06:30", id="ny-gap"),
    pytest.param(
        "cron(0 * * * ? *)", NEW_YORK, "2024-03-10T06:30", None, "2024-03-10T07:00", id="ny-hourly-gap"
    ),
    pytest.param(
        "cron(30 1 * * ? *)", NEW_YORK, "2024-11-02T12:00", None, "2024-11-03T05:30", id="ny-repeat"
    ),
    pytest.param("cron(30 1 * * ? *)", NEW_YORK, "2024-11-03T05:30", None, "2024-11-04T06:30", id="ny-once"),
    # rate(): every period of elapsed time from the anchor; a day is 24 hours, also across DST.
    pytest.param(
        "rate(5 minutes)", "UTC", "2024-01-01T00:10", "2024-01-01T00:02", "2024-01-01T00:12", id="rate"
    ),
    pytest.param(
        "rate(5 minutes)",
        "UTC",
        "2024-01-01T00:12",
        "2024-01-01T00:02",
        "2024-01-01T00:17",
        id="rate-on-a-run",
    ),
    pytest.param(
        "rate(1 hour)",
        "UTC",
        "2023-12-31T00:00",
        "2024-01-01T00:02",
        "2024-01-01T00:02",
        id="rate-before-anchor",
    ),
    pytest.param(
        "rate(1 day)",
        DUBLIN,
        "2024-03-30T02:00",
        "2024-03-30T02:00",
        "2024-03-31T02:00",
        id="rate-day-over-dst",
    ),
    # at(): once, at a wall-clock time in the zone.
    pytest.param("at(2024-06-01T09:30:00)", DUBLIN, "2024-01-01T00:00", None, "2024-06-01T08:30", id="at"),
    pytest.param("at(2024-06-01T09:30:00)", DUBLIN, "2024-06-01T08:30", None, None, id="at-past"),
    pytest.param(
        "at(2024-11-03T01:30:00)", NEW_YORK, "2024-11-01T00:00", None, "2024-11-03T05:30", id="at-repeat"
    ),
    pytest.param("at(2024-03-10T02:30:00)", NEW_YORK, "2024-03-01T00:00", None, None, id="at-in-gap"),
]


@pytest.mark.parametrize(("expression", "zone", "start", "anchor", "expected"), NEXT_RUNS)
def test_next_after_is_the_first_run_strictly_after_the_given_time(
    expression: str, zone: str, start: str, anchor: str | None, expected: str | None
) -> None:
    schedule = parse_schedule(expression, timezone=zone)

    found = schedule.next_after(utc(start), anchor=utc(anchor) if anchor else None)

    assert found == (utc(expected) if expected else None)


def test_next_after_answers_in_utc_whatever_the_schedule_zone() -> None:
    schedule = parse_schedule("cron(0 9 * * ? *)", timezone=DUBLIN)

    found = schedule.next_after(utc("2024-07-01T00:00"))

    assert found is not None
    assert found.tzinfo is UTC


def test_next_after_accepts_a_time_given_in_any_zone() -> None:
    schedule = parse_schedule("cron(0 2 * * ? *)")
    one_am_in_new_york = datetime.fromisoformat("2024-05-01T01:00-04:00")  # 05:00 UTC

    assert schedule.next_after(one_am_in_new_york) == utc("2024-05-02T02:00")


def test_names_are_read_in_any_case() -> None:
    lower = parse_schedule("cron(0 18 ? jan-mar mon-fri *)")
    upper = parse_schedule("cron(0 18 ? JAN-MAR MON-FRI *)")

    assert lower.next_after(utc("2024-01-05T18:00")) == upper.next_after(utc("2024-01-05T18:00"))


def test_fields_may_be_separated_by_several_spaces() -> None:
    schedule = parse_schedule("  cron(0  2 *  * ? *)  ")

    assert schedule.next_after(utc("2024-05-01T00:00")) == utc("2024-05-01T02:00")


# --------------------------------------------------------------------------- latest_at_or_before

LATEST_RUNS = [
    pytest.param(
        "cron(0 2 * * ? *)", "UTC", "2024-05-01T02:00", None, "2024-05-01T02:00", id="at-is-included"
    ),
    pytest.param(
        "cron(0 2 * * ? *)", "UTC", "2024-05-01T01:59:59", None, "2024-04-30T02:00", id="day-before"
    ),
    pytest.param("cron(0 0 1 1 ? *)", "UTC", "2023-12-31T23:59", None, "2023-01-01T00:00", id="year-back"),
    pytest.param("cron(0 12 L 2 ? *)", "UTC", "2024-03-01T00:00", None, "2024-02-29T12:00", id="leap-L"),
    pytest.param(
        "cron(0 10 ? * 6#3 *)", "UTC", "2024-02-01T00:00", None, "2024-01-19T10:00", id="third-friday"
    ),
    pytest.param("cron(0 0 1 1 ? 2030)", "UTC", "2024-01-01T00:00", None, None, id="none-yet"),
    pytest.param("cron(0 0 30 2 ? *)", "UTC", "2199-12-31T00:00", None, None, id="never"),
    pytest.param(
        "cron(0 2 * * ? *)", "UTC", "2024-05-01T12:00", "2024-05-01T03:00", None, id="nothing-since-anchor"
    ),
    pytest.param("cron(30 1 * * ? *)", DUBLIN, "2024-04-01T00:00", None, "2024-03-30T01:30", id="dublin-gap"),
    pytest.param(
        "cron(0/15 * * * ? *)", DUBLIN, "2024-10-27T01:10", None, "2024-10-27T00:45", id="dublin-second-pass"
    ),
    pytest.param("cron(30 1 * * ? *)", NEW_YORK, "2024-11-03T06:40", None, "2024-11-03T05:30", id="ny-once"),
    pytest.param(
        "rate(5 minutes)", "UTC", "2024-01-01T00:16", "2024-01-01T00:02", "2024-01-01T00:12", id="rate"
    ),
    pytest.param(
        "rate(5 minutes)",
        "UTC",
        "2024-01-01T00:12",
        "2024-01-01T00:02",
        "2024-01-01T00:12",
        id="rate-on-a-run",
    ),
    pytest.param(
        "rate(5 minutes)", "UTC", "2024-01-01T00:01", "2024-01-01T00:02", None, id="rate-before-anchor"
    ),
    pytest.param("at(2024-06-01T09:30:00)", DUBLIN, "2024-06-01T08:30", None, "2024-06-01T08:30", id="at"),
    pytest.param("at(2024-06-01T09:30:00)", DUBLIN, "2024-06-01T08:29", None, None, id="at-not-yet"),
]


@pytest.mark.parametrize(("expression", "zone", "at", "anchor", "expected"), LATEST_RUNS)
def test_latest_at_or_before_is_the_most_recent_expected_run(
    expression: str, zone: str, at: str, anchor: str | None, expected: str | None
) -> None:
    schedule = parse_schedule(expression, timezone=zone)

    found = schedule.latest_at_or_before(utc(at), anchor=utc(anchor) if anchor else None)

    assert found == (utc(expected) if expected else None)


def test_latest_and_next_agree_on_every_run_over_a_dst_weekend() -> None:
    """Walking forward with next_after, latest_at_or_before finds each run and no run in between."""
    schedule = parse_schedule("cron(0/20 0-3 * * ? *)", timezone=DUBLIN)
    runs: list[datetime] = []
    run = schedule.next_after(utc("2024-10-25T22:00"))
    while run is not None and run < utc("2024-10-27T12:00"):
        if runs:
            assert schedule.latest_at_or_before(run - timedelta(seconds=1)) == runs[-1]
        assert schedule.latest_at_or_before(run) == run
        runs.append(run)
        run = schedule.next_after(run)

    # 00:00-03:40 local on the 26th and the 27th, 12 runs each: the repeated 01:xx runs once.
    local_27th = [f"{r.astimezone(schedule.zone):%H:%M}" for r in runs if r >= utc("2024-10-26T23:00")]
    assert len(runs) == 24
    assert local_27th == [f"{hour:02d}:{minute:02d}" for hour in range(4) for minute in (0, 20, 40)]


# --------------------------------------------------------------------------- never / bounded


def test_an_expression_no_date_matches_never_runs_and_says_so() -> None:
    schedule = parse_schedule("cron(0 0 30 2 ? *)")

    assert schedule.never_runs
    assert schedule.next_after(utc("1970-01-01T00:00")) is None
    assert "never runs" in schedule.describe()


def test_a_fifth_weekday_in_february_only_runs_in_leap_years_that_have_one() -> None:
    # February has a fifth Thursday only in a leap year starting on Thursday (2024: Feb 1 is a Thursday).
    schedule = parse_schedule("cron(0 0 ? 2 5#5 *)")

    assert not schedule.never_runs
    assert schedule.next_after(utc("2020-01-01T00:00")) == utc("2024-02-29T00:00")


def test_an_at_in_a_spring_gap_never_runs_and_says_so() -> None:
    schedule = parse_schedule("at(2024-03-10T02:30:00)", timezone=NEW_YORK)

    assert schedule.never_runs
    assert schedule.latest_at_or_before(utc("2030-01-01T00:00")) is None


def test_an_ordinary_schedule_does_run() -> None:
    assert not parse_schedule("cron(0 2 * * ? *)").never_runs
    assert not parse_schedule("rate(5 minutes)").never_runs


# --------------------------------------------------------------------------- describe

DESCRIPTIONS = [
    ("cron(0 2 * * ? *)", "UTC", "every day at 02:00 UTC"),
    ("cron(0 18 ? * MON-FRI *)", "UTC", "on MON-FRI at 18:00 UTC"),
    ("cron(0 8 ? * 1,7 *)", "UTC", "on SUN,SAT at 08:00 UTC"),
    ("cron(0 10 ? * 6#3 *)", DUBLIN, "on the 3rd FRI of the month at 10:00 Europe/Dublin"),
    ("cron(0 10 ? * 6L *)", "UTC", "on the last FRI of the month at 10:00 UTC"),
    ("cron(0 9 15W * ? *)", "UTC", "on the weekday nearest the 15th of the month at 09:00 UTC"),
    ("cron(0 9 LW * ? *)", "UTC", "on the last weekday (MON-FRI) of the month at 09:00 UTC"),
    ("cron(0 0 L * ? *)", "UTC", "on the last day of the month at 00:00 UTC"),
    (
        "cron(0 9,17 1,15 JAN-MAR ? 2025)",
        "UTC",
        "on days 1,15 of the month in JAN-MAR of 2025 at 09:00, 17:00 UTC",
    ),
    ("cron(0/15 8-18 ? * MON-FRI *)", "UTC", "every 15 minutes during hours 8-18 on MON-FRI (UTC)"),
    ("cron(* * * * ? *)", "UTC", "every minute (UTC)"),
    ("cron(5 * * * ? *)", "UTC", "every day at minute 05 of every hour UTC"),
    ("cron(0 0 30 2 ? *)", "UTC", "on day 30 of the month in FEB at 00:00 UTC (never runs: no date matches)"),
    ("rate(1 hour)", "UTC", "every hour"),
    ("rate(5 minutes)", "UTC", "every 5 minutes"),
    ("at(2024-06-01T09:30:00)", DUBLIN, "once at 2024-06-01 09:30:00 Europe/Dublin"),
    (
        "at(2024-03-10T02:30:00)",
        NEW_YORK,
        "once at 2024-03-10 02:30:00 America/New_York (never runs: the clocks skip that time there)",
    ),
]


@pytest.mark.parametrize(("expression", "zone", "text"), DESCRIPTIONS)
def test_describe_says_the_schedule_in_words(expression: str, zone: str, text: str) -> None:
    assert parse_schedule(expression, timezone=zone).describe() == text


def test_wall_clock_shows_a_moment_on_the_schedules_own_clock() -> None:
    schedule = parse_schedule("cron(0 9 * * ? *)", timezone=DUBLIN)

    assert schedule.wall_clock(utc("2024-07-01T08:00")) == "2024-07-01 09:00 Europe/Dublin"


# --------------------------------------------------------------------------- missed_run

DAILY = parse_schedule("cron(0 2 * * ? *)")
YESTERDAY_RUN = utc("2024-04-30T02:00:30")


def test_a_run_exactly_grace_late_is_not_yet_missed() -> None:
    missed = missed_run(DAILY, last_started=YESTERDAY_RUN, now=utc("2024-05-01T02:10"), grace=GRACE)

    assert missed is None


def test_a_run_a_moment_more_than_grace_late_is_missed() -> None:
    now = utc("2024-05-01T02:10") + timedelta(microseconds=1)

    missed = missed_run(DAILY, last_started=YESTERDAY_RUN, now=now, grace=GRACE)

    assert missed == utc("2024-05-01T02:00")


def test_a_run_that_started_late_but_before_now_is_not_missed() -> None:
    missed = missed_run(DAILY, last_started=utc("2024-05-01T02:12"), now=utc("2024-05-01T02:20"), grace=GRACE)

    assert missed is None


def test_a_run_that_started_exactly_on_time_is_not_missed() -> None:
    missed = missed_run(DAILY, last_started=utc("2024-05-01T02:00"), now=utc("2024-05-01T09:00"), grace=GRACE)

    assert missed is None


def test_with_no_run_ever_started_the_latest_expected_run_is_missed() -> None:
    missed = missed_run(DAILY, last_started=None, now=utc("2024-05-01T02:11"), grace=GRACE)

    assert missed == utc("2024-05-01T02:00")


def test_no_run_is_expected_before_the_anchor() -> None:
    deployed = utc("2024-05-01T02:05")

    missed = missed_run(DAILY, last_started=None, now=utc("2024-05-01T02:11"), grace=GRACE, anchor=deployed)

    assert missed is None


def test_an_earlier_missed_run_is_reported_while_the_latest_is_within_grace() -> None:
    missed = missed_run(DAILY, last_started=YESTERDAY_RUN, now=utc("2024-05-02T02:05"), grace=GRACE)

    assert missed == utc("2024-05-01T02:00")


def test_a_rate_schedule_is_missed_from_its_anchor() -> None:
    hourly = parse_schedule("rate(1 hour)")

    missed = missed_run(
        hourly,
        last_started=utc("2024-05-01T01:00:05"),
        now=utc("2024-05-01T02:10:01"),
        grace=GRACE,
        anchor=utc("2024-05-01T00:00"),
    )

    assert missed == utc("2024-05-01T02:00")


def test_a_scheduler_run_is_missed_at_its_local_time() -> None:
    """09:00 Dublin is 08:00 UTC in summer: at 08:10:01 UTC it is missed, not at 09:10 UTC."""
    schedule = parse_schedule("cron(0 9 * * ? *)", timezone=DUBLIN)

    missed = missed_run(schedule, last_started=None, now=utc("2024-07-01T08:10:01"), grace=GRACE)

    assert missed == utc("2024-07-01T08:00")


def test_a_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace must not be negative"):
        missed_run(DAILY, last_started=None, now=utc("2024-05-01T02:11"), grace=timedelta(minutes=-1))


def test_naive_datetimes_are_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        missed_run(DAILY, last_started=None, now=datetime(2024, 5, 1, 2, 11), grace=GRACE)


# --------------------------------------------------------------------------- errors

ERRORS = [
    ("", "UTC", "'' is not a schedule expression: write cron(...), rate(...) or at(...)"),
    (
        "cron 0 2 * * ? *",
        "UTC",
        "'cron 0 2 * * ? *' is not a schedule expression: write cron(...), rate(...) or at(...)",
    ),
    (
        "CRON(0 2 * * ? *)",
        "UTC",
        "'CRON(0 2 * * ? *)' is not a schedule expression: write cron(...), rate(...) or at(...)",
    ),
    (
        "cron(0 2 * * ? *",
        "UTC",
        "'cron(0 2 * * ? *' is not a schedule expression: write cron(...), rate(...) or at(...)",
    ),
    (
        "cron(0 2 * * ?)",
        "UTC",
        "cron(0 2 * * ?): a cron expression has six fields "
        "(minutes hours day-of-month month day-of-week year), not 5",
    ),
    (
        "cron(0 2 * * * *)",
        "UTC",
        "cron(0 2 * * * *): day-of-month and day-of-week cannot both be '*'; one must be '?'",
    ),
    (
        "cron(0 2 15 * MON *)",
        "UTC",
        "cron(0 2 15 * MON *): day-of-month and day-of-week cannot both be given ('15' and 'MON'); "
        "one must be '?'",
    ),
    (
        "cron(0 2 ? * ? *)",
        "UTC",
        "cron(0 2 ? * ? *): day-of-month and day-of-week cannot both be '?'; one of them must name the days",
    ),
    ("cron(60 2 * * ? *)", "UTC", "cron(60 2 * * ? *): minutes: 60 is out of range 0-59"),
    ("cron(0 24 * * ? *)", "UTC", "cron(0 24 * * ? *): hours: 24 is out of range 0-23"),
    ("cron(0 2 0 * ? *)", "UTC", "cron(0 2 0 * ? *): day-of-month: 0 is out of range 1-31"),
    ("cron(0 2 * 13 ? *)", "UTC", "cron(0 2 * 13 ? *): month: 13 is out of range 1-12"),
    ("cron(0 2 * FOO ? *)", "UTC", "cron(0 2 * FOO ? *): month: 'FOO' is not a number or a name (JAN-DEC)"),
    ("cron(0 2 ? * 8 *)", "UTC", "cron(0 2 ? * 8 *): day-of-week: 8 is out of range 1-7"),
    (
        "cron(0 2 ? * FUN *)",
        "UTC",
        "cron(0 2 ? * FUN *): day-of-week: 'FUN' is not a number or a name (SUN-SAT)",
    ),
    ("cron(0 2 * * ? 1969)", "UTC", "cron(0 2 * * ? 1969): year: 1969 is out of range 1970-2199"),
    (
        "cron(L 2 * * ? *)",
        "UTC",
        "cron(L 2 * * ? *): minutes: 'L' is not allowed here (digits and , - * / are)",
    ),
    (
        "cron(0 ? * * ? *)",
        "UTC",
        "cron(0 ? * * ? *): hours: '?' is not allowed here (digits and , - * / are)",
    ),
    (
        "cron(0 2 * * ? 2024#1)",
        "UTC",
        "cron(0 2 * * ? 2024#1): year: '#' is not allowed here (digits and , - * / are)",
    ),
    (
        "cron(0 2 5#1 * ? *)",
        "UTC",
        "cron(0 2 5#1 * ? *): day-of-month: '#' is not allowed here (digits and , - * ? / L W are)",
    ),
    (
        "cron(0 2 ? * 1/2 *)",
        "UTC",
        "cron(0 2 ? * 1/2 *): day-of-week: '/' is not allowed here (digits and , - * ? L # are)",
    ),
    (
        "cron(0 2 ? * 3#1,6#3 *)",
        "UTC",
        "cron(0 2 ? * 3#1,6#3 *): day-of-week: '3#1,6#3': "
        "'?', L, 6L and 6#3 stand alone, not in a list or range",
    ),
    (
        "cron(0 2 ? * 1,6L *)",
        "UTC",
        "cron(0 2 ? * 1,6L *): day-of-week: '1,6L': '?', L, 6L and 6#3 stand alone, not in a list or range",
    ),
    (
        "cron(0 2 ? * 6#6 *)",
        "UTC",
        "cron(0 2 ? * 6#6 *): day-of-week: '6#6': the number after '#' is 1-5, not 6",
    ),
    (
        "cron(0 2 1W,15W * ? *)",
        "UTC",
        "cron(0 2 1W,15W * ? *): day-of-month: '1W,15W': "
        "'?', L, LW and 15W stand alone, not in a list or range",
    ),
    (
        "cron(0 2 L-2 * ? *)",
        "UTC",
        "cron(0 2 L-2 * ? *): day-of-month: 'L-2': '?', L, LW and 15W stand alone, not in a list or range",
    ),
    ("cron(0 2 32W * ? *)", "UTC", "cron(0 2 32W * ? *): day-of-month: 32 is out of range 1-31"),
    (
        "cron(50-10 * * * ? *)",
        "UTC",
        "cron(50-10 * * * ? *): minutes: range '50-10' runs backwards; list the values instead",
    ),
    (
        "cron(0 2 ? * FRI-MON *)",
        "UTC",
        "cron(0 2 ? * FRI-MON *): day-of-week: range 'FRI-MON' runs backwards; list the values instead",
    ),
    (
        "cron(0/0 * * * ? *)",
        "UTC",
        "cron(0/0 * * * ? *): minutes: the step in '0/0' must be a whole number above 0",
    ),
    (
        "cron(/5 * * * ? *)",
        "UTC",
        "cron(/5 * * * ? *): minutes: '/5' needs a value before '/', like 0/5 or */5",
    ),
    ("cron(1,,2 * * * ? *)", "UTC", "cron(1,,2 * * * ? *): minutes: '' needs a value"),
    (
        "cron(-5 * * * ? *)",
        "UTC",
        "cron(-5 * * * ? *): minutes: range '-5' needs a value on both sides of '-'",
    ),
    ("rate(5)", "UTC", "rate(5): write rate(value unit), like rate(5 minutes)"),
    ("rate(5 weeks)", "UTC", "rate(5 weeks): the unit is minute(s), hour(s) or day(s), not 'weeks'"),
    ("rate(0 minutes)", "UTC", "rate(0 minutes): the value must be a whole number above 0, not '0'"),
    ("rate(1.5 hours)", "UTC", "rate(1.5 hours): the value must be a whole number above 0, not '1.5'"),
    ("rate(1 hours)", "UTC", "rate(1 hours): with 1 the unit is singular: rate(1 hour)"),
    ("rate(5 hour)", "UTC", "rate(5 hour): above 1 the unit is plural: rate(5 hours)"),
    (
        "rate(99999999999999 days)",
        "UTC",
        "rate(99999999999999 days): 99999999999999 days is too long to schedule",
    ),
    (
        "at(2024-06-01 09:30:00)",
        "UTC",
        "at(2024-06-01 09:30:00): write at(yyyy-mm-ddThh:mm:ss), like at(2024-03-10T02:30:00)",
    ),
    (
        "at(2024-02-30T09:30:00)",
        "UTC",
        "at(2024-02-30T09:30:00): 2024-02-30T09:30:00 is not a real date and time "
        "(day is out of range for month)",
    ),
    (
        "cron(0 2 * * ? *)",
        "Mars/Olympus_Mons",
        "cron(0 2 * * ? *): unknown time zone 'Mars/Olympus_Mons' (use an IANA name like Europe/Dublin)",
    ),
]


@pytest.mark.parametrize(("expression", "zone", "message"), ERRORS)
def test_each_invalid_expression_says_what_is_wrong_and_where(
    expression: str, zone: str, message: str
) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression, timezone=zone)

    assert str(raised.value) == message


def test_a_rate_schedule_cannot_be_placed_without_an_anchor() -> None:
    schedule = parse_schedule("rate(5 minutes)")

    with pytest.raises(ScheduleError) as raised:
        schedule.next_after(utc("2024-05-01T00:00"))

    assert schedule.needs_anchor
    assert str(raised.value) == (
        "rate(5 minutes): a rate schedule needs an anchor (its start, or a run known to have happened) "
        "to place its runs"
    )
