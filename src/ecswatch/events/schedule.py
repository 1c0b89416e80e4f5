"""When a scheduled job should have started: EventBridge schedule expressions, evaluated exactly.

The watchdog alerts when an expected run did not start. A wrong "expected" time is worse than none:
it pages someone at night for a job that was never due. So this module follows the AWS syntax
(``cron(...)``, ``rate(...)``, ``at(...)``) to the letter and refuses anything it is not sure of,
with a message that names the field, instead of guessing.

Sources: "Cron expressions reference" and "Rate expressions reference" (EventBridge User Guide), and
"Schedule types in EventBridge Scheduler" (Scheduler User Guide).

Semantics, and the choices the documentation leaves open:

* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``. Day-of-week is 1-7 with 1 = SUN
  (or SUN-SAT); month 1-12 or JAN-DEC; names in any case; year 1970-2199. Exactly one of
  day-of-month and day-of-week is ``?``.
* ``L`` in day-of-month is the last day of the month, ``LW`` its last weekday (MON-FRI), ``15W``
  the weekday nearest the 15th without leaving the month (``1W`` on a Saturday is Monday the 3rd).
  ``31W`` in a 30-day month does not run that month, as ``31`` does not.
* ``L`` alone in day-of-week is the last day of the week, Saturday (the Quartz meaning the AWS
  syntax follows); ``6L`` is the last Friday of the month; ``6#3`` the third Friday, and a month
  with no fifth Friday has no ``6#5`` run.
* ``L``, ``W`` and ``#`` stand alone in their field (AWS: "3#1,6#3" is invalid). Ranges must run
  forwards (``FRI-MON`` is refused: write ``FRI,SAT,SUN,MON``), because AWS does not document what
  a wrapping range means. Day-of-week takes no ``/`` (not among its documented wildcards).
* EventBridge rules evaluate in UTC; Scheduler in ``ScheduleExpressionTimezone`` (``timezone``).
  A local time the spring change skips does not run that day; a time the autumn change repeats runs
  once, at its first occurrence (AWS: "runs only once"; which one is not documented, the first is
  the one a clock shows first).
* ``rate(value unit)`` runs every ``value`` units of elapsed time (a day is 24 hours, also across a
  DST change, as Scheduler documents), starting at the schedule's start, which the expression does
  not carry: pass it as ``anchor``. A rule's rate starts when the rule is created; a Scheduler
  schedule's at its StartDate (or creation). If neither is known, a run known to have happened is
  as good: it fixes the phase, and no run is expected before it.
* ``at(yyyy-mm-ddThh:mm:ss)`` runs once, at that wall-clock time in ``timezone``.
* ``anchor`` means the same for every kind: the schedule's start; no run is expected before it.
  A watchdog that passes the time the job was deployed never alerts about runs from before.

Searches go field by field (year, month, day, hour, minute) and stop at 2199, the last year AWS
allows, so an expression that can never match (``cron(0 0 30 2 ? *)``) answers None in well under a
millisecond per century instead of looping; :attr:`Schedule.never_runs` says so up front.

All datetimes taken must be timezone-aware; all returned ones are in UTC.
"""

from __future__ import annotations

import calendar
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIRST_YEAR = 1970
LAST_YEAR = 2199
#: The smallest step between datetimes: "more than grace" is "at least grace plus this".
_TICK = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)
_SATURDAY = 7
_SUNDAY = 1
_MAX_NTH = 5

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: In AWS order: 1 = SUN ... 7 = SAT.
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class ScheduleError(ValueError):
    """The expression is not one AWS accepts, or not one this module can evaluate faithfully."""


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True, kw_only=True)
class Schedule(ABC):
    """A parsed schedule expression and the time zone it is evaluated in."""

    expression: str
    timezone: str
    zone: tzinfo = field(repr=False, compare=False)

    #: True for rate(): runs cannot be placed without knowing when the schedule started.
    needs_anchor = False

    @abstractmethod
    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The first run strictly after ``t``, or None when there are no more."""

    @abstractmethod
    def latest_at_or_before(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The most recent run at or before ``t``, or None when there was none (since ``anchor``)."""

    @abstractmethod
    def describe(self) -> str:
        """The schedule in words, for alerts: "every day at 02:00 UTC"."""

    @property
    @abstractmethod
    def never_runs(self) -> bool:
        """True when no moment at all matches (30 FEB, a skipped local time): nothing to expect."""

    def wall_clock(self, moment: datetime) -> str:
        """``moment`` as the schedule's own clock shows it: "2024-03-31 02:00 Europe/Dublin"."""
        return f"{_utc(moment, 'moment').astimezone(self.zone):%Y-%m-%d %H:%M} {self.timezone}"


@dataclass(frozen=True, kw_only=True)
class CronSchedule(Schedule):
    # Expanded fields, ascending; kept out of repr (230 years), the expression says it better.
    minutes: tuple[int, ...] = field(repr=False)
    hours: tuple[int, ...] = field(repr=False)
    days: DayRule
    months: tuple[int, ...] = field(repr=False)
    years: tuple[int, ...] = field(repr=False)
    #: The six fields as written, for describe().
    fields: tuple[str, ...]

    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        after = _utc(t, "t")
        if anchor is not None:
            after = max(after, _utc(anchor, "anchor") - _TICK)
        start = _floor_minute(after.astimezone(self.zone).replace(tzinfo=None))
        for wall in self._walls(start, forward=True):
            instant = _instant(wall, self.zone)
            if instant is not None and instant > after:
                return instant
        return None

    def latest_at_or_before(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        until = _utc(t, "t")
        local = until.astimezone(self.zone)
        # In the second pass of a repeated hour, wall times up to the end of the repeat are earlier
        # runs (their first occurrence already happened): start the backward walk there.
        start = _floor_minute(local.replace(tzinfo=None) + _repeat_length(local))
        found = None
        for wall in self._walls(start, forward=False):
            instant = _instant(wall, self.zone)
            if instant is not None and instant <= until:
                found = instant
                break
        if found is None or (anchor is not None and found < _utc(anchor, "anchor")):
            return None
        return found

    def describe(self) -> str:
        minutes_text, hours_text = self.fields[0], self.fields[1]
        when = _time_text(minutes_text, hours_text, self.minutes, self.hours)
        days = self.days.describe() + self._months_text()
        if when.startswith("at "):
            text = f"{days} {when} {self.timezone}"
        else:
            # "every 15 minutes every day" says "every" once too often.
            days = "" if days == "every day" else f" {days}"
            text = f"{when}{days} ({self.timezone})"
        return text + (" (never runs: no date matches)" if self.never_runs else "")

    @cached_property
    def never_runs(self) -> bool:
        return self.next_after(datetime(FIRST_YEAR - 1, 12, 30, tzinfo=UTC)) is None

    def _months_text(self) -> str:
        text = ""
        if self.fields[3] != "*":
            text += f" in {_compact(self.months, _month_name)}"
        if self.fields[5] != "*":
            text += f" {'of' if text else 'in'} {_compact(self.years, str)}"
        return text

    def _walls(self, bound: datetime, *, forward: bool) -> Iterator[datetime]:
        """Every matching wall-clock time from ``bound`` (inclusive) on, in order, up to 2199.

        Field by field: a year or month with no matching day costs one check, not a scan.
        """
        keep = operator.ge if forward else operator.le
        hours = self.hours if forward else self.hours[::-1]
        minutes = self.minutes if forward else self.minutes[::-1]
        for day in self._dates(bound.date(), keep=keep, forward=forward):
            for hour in hours:
                if day == bound.date() and not keep(hour, bound.hour):
                    continue
                for minute in minutes:
                    wall = datetime.combine(day, time(hour, minute))
                    if keep(wall, bound):
                        yield wall

    def _dates(self, bound: date, *, keep: Callable[[Any, Any], Any], forward: bool) -> Iterator[date]:
        years = self.years if forward else self.years[::-1]
        months = self.months if forward else self.months[::-1]
        for year in years:
            if not keep(year, bound.year):
                continue
            for month in months:
                if not keep((year, month), (bound.year, bound.month)):
                    continue
                days = self.days.days_in(year, month)
                for day in days if forward else days[::-1]:
                    if keep(date(year, month, day), bound):
                        yield date(year, month, day)


@dataclass(frozen=True, kw_only=True)
class RateSchedule(Schedule):
    value: int
    unit: str
    period: timedelta

    needs_anchor = True

    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        start = self._anchor(anchor)
        after = _utc(t, "t")
        if after < start:
            return start
        return start + ((after - start) // self.period + 1) * self.period

    def latest_at_or_before(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        start = self._anchor(anchor)
        until = _utc(t, "t")
        if until < start:
            return None
        return start + ((until - start) // self.period) * self.period

    def describe(self) -> str:
        return f"every {self.unit}" if self.value == 1 else f"every {self.value} {self.unit}"

    @property
    def never_runs(self) -> bool:
        return False

    def _anchor(self, anchor: datetime | None) -> datetime:
        if anchor is None:
            raise ScheduleError(
                f"{self.expression}: a rate schedule needs an anchor (its start, or a run known to "
                "have happened) to place its runs"
            )
        return _utc(anchor, "anchor")


@dataclass(frozen=True, kw_only=True)
class AtSchedule(Schedule):
    wall: datetime
    #: None when the wall time falls in a spring-forward gap of the zone: it never comes.
    moment: datetime | None

    def next_after(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        if self.moment is None or self.moment <= _utc(t, "t") or _before_anchor(self.moment, anchor):
            return None
        return self.moment

    def latest_at_or_before(self, t: datetime, *, anchor: datetime | None = None) -> datetime | None:
        if self.moment is None or self.moment > _utc(t, "t") or _before_anchor(self.moment, anchor):
            return None
        return self.moment

    def describe(self) -> str:
        text = f"once at {self.wall:%Y-%m-%d %H:%M:%S} {self.timezone}"
        if self.moment is None:
            text += " (never runs: the clocks skip that time there)"
        return text

    @property
    def never_runs(self) -> bool:
        return self.moment is None


def missed_run(
    schedule: Schedule,
    *,
    last_started: datetime | None,
    now: datetime,
    grace: timedelta,
    anchor: datetime | None = None,
) -> datetime | None:
    """The latest expected start that is more than ``grace`` old with no run started at or after it.

    Exactly ``grace`` late is still on time: at 02:10:00 a 02:00 run with 10 minutes' grace is not
    missed; at 02:10:00.000001 it is. A run that started late but before ``now`` counts.
    ``grace`` must cover EventBridge's own latency (Scheduler invokes within the minute, plus any
    flexible time window) and the time ECS takes to start the task. ``anchor``: see the module doc;
    required for rate().
    """
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, not {grace}")
    cutoff = _utc(now, "now") - grace - _TICK
    expected = schedule.latest_at_or_before(cutoff, anchor=anchor)
    if expected is None:
        return None
    if last_started is not None and _utc(last_started, "last_started") >= expected:
        return None
    return expected


# --------------------------------------------------------------------------- day rules


class DayRule(Protocol):
    """Which days of a month a cron expression runs on: from day-of-month or from day-of-week."""

    def days_in(self, year: int, month: int) -> list[int]:
        """The matching days of that month, ascending."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class MonthDays:
    """Day-of-month as numbers, ranges and steps: days a short month lacks are skipped."""

    days: tuple[int, ...]

    def days_in(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        return [day for day in self.days if day <= last]

    def describe(self) -> str:
        if len(self.days) == 31:
            return "every day"
        plural = "s" if len(self.days) > 1 else ""
        return f"on day{plural} {_compact(self.days, str)} of the month"


@dataclass(frozen=True)
class LastDay:
    """``L`` in day-of-month."""

    def days_in(self, year: int, month: int) -> list[int]:
        return [_last_day(year, month)]

    def describe(self) -> str:
        return "on the last day of the month"


@dataclass(frozen=True)
class LastWeekday:
    """``LW``: the last MON-FRI of the month."""

    def days_in(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        weekday = _aws_weekday(date(year, month, last))
        back = {_SATURDAY: 1, _SUNDAY: 2}.get(weekday, 0)
        return [last - back]

    def describe(self) -> str:
        return "on the last weekday (MON-FRI) of the month"


@dataclass(frozen=True)
class NearestWeekday:
    """``15W``: the MON-FRI nearest the 15th, never crossing into another month."""

    day: int

    def days_in(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        if self.day > last:
            return []
        weekday = _aws_weekday(date(year, month, self.day))
        if weekday == _SATURDAY:
            return [self.day + 2 if self.day == 1 else self.day - 1]
        if weekday == _SUNDAY:
            return [self.day - 2 if self.day == last else self.day + 1]
        return [self.day]

    def describe(self) -> str:
        return f"on the weekday nearest the {_ordinal(self.day)} of the month"


@dataclass(frozen=True)
class Weekdays:
    """Day-of-week as numbers (1 = SUN), names, ranges, or ``L`` alone (SAT)."""

    weekdays: frozenset[int]

    def days_in(self, year: int, month: int) -> list[int]:
        first = _aws_weekday(date(year, month, 1))
        return [
            day for day in range(1, _last_day(year, month) + 1) if (first + day - 2) % 7 + 1 in self.weekdays
        ]

    def describe(self) -> str:
        if len(self.weekdays) == len(WEEKDAY_NAMES):
            return "every day"
        return f"on {_compact(sorted(self.weekdays), _weekday_name)}"


@dataclass(frozen=True)
class LastOfWeekday:
    """``6L``: the last Friday of the month."""

    weekday: int

    def days_in(self, year: int, month: int) -> list[int]:
        last = _last_day(year, month)
        back = (_aws_weekday(date(year, month, last)) - self.weekday) % 7
        return [last - back]

    def describe(self) -> str:
        return f"on the last {_weekday_name(self.weekday)} of the month"


@dataclass(frozen=True)
class NthWeekday:
    """``6#3``: the third Friday of the month; no run in a month without one."""

    weekday: int
    nth: int

    def days_in(self, year: int, month: int) -> list[int]:
        first = 1 + (self.weekday - _aws_weekday(date(year, month, 1))) % 7
        day = first + 7 * (self.nth - 1)
        return [day] if day <= _last_day(year, month) else []

    def describe(self) -> str:
        return f"on the {_ordinal(self.nth)} {_weekday_name(self.weekday)} of the month"


# --------------------------------------------------------------------------- parsing


def parse_schedule(text: str, *, timezone: str = "UTC") -> Schedule:
    """Parse ``cron(...)``, ``rate(...)`` or ``at(...)`` as EventBridge writes them.

    ``timezone`` is Scheduler's ScheduleExpressionTimezone (an IANA name); EventBridge rules are
    always UTC, the default.
    """
    expression = text.strip()
    kind, paren, rest = expression.partition("(")
    parser = _PARSERS.get(kind)
    if parser is None or not paren or not rest.endswith(")"):
        raise ScheduleError(
            f"{expression!r} is not a schedule expression: write cron(...), rate(...) or at(...)"
        )
    zone = _zone(expression, timezone)
    return parser(expression, rest[:-1].strip(), timezone, zone)


def _zone(expression: str, name: str) -> tzinfo:
    # UTC needs no time zone database: rules (always UTC) work even where tzdata is missing.
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{expression}: unknown time zone {name!r} (use an IANA name like Europe/Dublin)"
        ) from None


_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86_400}


def _parse_rate(expression: str, body: str, name: str, zone: tzinfo) -> Schedule:
    parts = body.split()
    if len(parts) != 2:
        raise ScheduleError(f"{expression}: write rate(value unit), like rate(5 minutes)")
    value_text, unit = parts
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise ScheduleError(f"{expression}: the unit is minute(s), hour(s) or day(s), not {unit!r}")
    if not value_text.isdigit() or int(value_text) == 0:
        raise ScheduleError(f"{expression}: the value must be a whole number above 0, not {value_text!r}")
    value = int(value_text)
    if value == 1 and unit != singular:
        raise ScheduleError(f"{expression}: with 1 the unit is singular: rate(1 {singular})")
    if value > 1 and unit == singular:
        raise ScheduleError(f"{expression}: above 1 the unit is plural: rate({value} {singular}s)")
    try:
        period = timedelta(seconds=value * _RATE_UNITS[singular])
    except OverflowError:
        raise ScheduleError(f"{expression}: {value} {unit} is too long to schedule") from None
    return RateSchedule(
        expression=expression, timezone=name, zone=zone, value=value, unit=unit, period=period
    )


_AT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")


def _parse_at(expression: str, body: str, name: str, zone: tzinfo) -> Schedule:
    found = _AT.fullmatch(body)
    if found is None:
        raise ScheduleError(f"{expression}: write at(yyyy-mm-ddThh:mm:ss), like at(2024-03-10T02:30:00)")
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError as e:
        raise ScheduleError(f"{expression}: {body} is not a real date and time ({e})") from None
    return AtSchedule(expression=expression, timezone=name, zone=zone, wall=wall, moment=_instant(wall, zone))


def _parse_cron(expression: str, body: str, name: str, zone: tzinfo) -> Schedule:
    fields = body.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(
            f"{expression}: a cron expression has six fields (minutes hours day-of-month month "
            f"day-of-week year), not {len(fields)}"
        )
    try:
        minutes, hours, months, years = (tuple(sorted(_values(fields[i], _FIELDS[i]))) for i in (0, 1, 3, 5))
        by_month_day = _day_of_month(fields[2])
        by_weekday = _day_of_week(fields[4])
    except _FieldProblem as problem:
        raise ScheduleError(f"{expression}: {problem.field}: {problem}") from None
    return CronSchedule(
        expression=expression,
        timezone=name,
        zone=zone,
        minutes=minutes,
        hours=hours,
        days=_one_day_rule(expression, fields[2], fields[4], by_month_day, by_weekday),
        months=months,
        years=years,
        fields=tuple(fields),
    )


def _one_day_rule(
    expression: str, dom_text: str, dow_text: str, by_month_day: DayRule | None, by_weekday: DayRule | None
) -> DayRule:
    if by_month_day is None and by_weekday is None:
        raise ScheduleError(
            f"{expression}: day-of-month and day-of-week cannot both be '?'; one of them must name the days"
        )
    if by_month_day is not None and by_weekday is not None:
        both = "'*'" if dom_text == dow_text == "*" else f"given ({dom_text!r} and {dow_text!r})"
        raise ScheduleError(
            f"{expression}: day-of-month and day-of-week cannot both be {both}; one must be '?'"
        )
    if by_month_day is not None:
        return by_month_day
    assert by_weekday is not None  # for mypy: exactly one of the two was given
    return by_weekday


class _FieldProblem(ValueError):
    def __init__(self, spec: _Field, message: str) -> None:
        super().__init__(message)
        self.field = spec.name


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    #: The wildcard characters AWS documents for the field, besides digits.
    wildcards: str
    names: tuple[str, ...] = ()

    def number(self, token: str) -> int:
        upper = token.upper()
        if upper in self.names:
            value = self.names.index(upper) + self.low
        elif token.isdigit():
            value = int(token)
        else:
            kind = f"a number or a name ({self.names[0]}-{self.names[-1]})" if self.names else "a number"
            raise _FieldProblem(self, f"{token!r} is not {kind}")
        if not self.low <= value <= self.high:
            raise _FieldProblem(self, f"{value} is out of range {self.low}-{self.high}")
        return value

    def check_characters(self, text: str) -> None:
        for char in text:
            if not (char.isdigit() or char in self.wildcards or (self.names and char.isalpha())):
                allowed = " ".join(self.wildcards)
                raise _FieldProblem(self, f"{char!r} is not allowed here (digits and {allowed} are)")


_FIELDS = (
    _Field("minutes", 0, 59, ",-*/"),
    _Field("hours", 0, 23, ",-*/"),
    _Field("day-of-month", 1, 31, ",-*?/LW"),
    _Field("month", 1, 12, ",-*/", MONTH_NAMES),
    _Field("day-of-week", 1, 7, ",-*?L#", WEEKDAY_NAMES),
    _Field("year", FIRST_YEAR, LAST_YEAR, ",-*/"),
)
_DOM, _DOW = _FIELDS[2], _FIELDS[4]
_NEAREST = re.compile(r"(\d+)W")
_LAST_OF = re.compile(r"(\w+)L", re.IGNORECASE)
_NTH = re.compile(r"(\w+)#(\d+)")


def _values(text: str, spec: _Field) -> set[int]:
    """Numbers, names, ``*``, ranges and steps, comma-separated: the plain cron vocabulary."""
    spec.check_characters(text)
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(part, spec))
    return values


def _part(part: str, spec: _Field) -> range:
    base, slash, step_text = part.partition("/")
    step = _step(part, step_text, spec) if slash else 1
    if base == "*":
        return range(spec.low, spec.high + 1, step)
    if not base:
        raise _FieldProblem(
            spec, f"{part!r} needs a value" + (" before '/', like 0/5 or */5" if slash else "")
        )
    first_text, dash, last_text = base.partition("-")
    if not dash:
        first = spec.number(first_text)
        return range(first, (spec.high if slash else first) + 1, step)
    if not first_text or not last_text:
        raise _FieldProblem(spec, f"range {base!r} needs a value on both sides of '-'")
    first, last = spec.number(first_text), spec.number(last_text)
    if first > last:
        raise _FieldProblem(spec, f"range {base!r} runs backwards; list the values instead")
    return range(first, last + 1, step)


def _step(part: str, step_text: str, spec: _Field) -> int:
    if not step_text.isdigit() or int(step_text) == 0:
        raise _FieldProblem(spec, f"the step in {part!r} must be a whole number above 0")
    return int(step_text)


def _day_of_month(text: str) -> DayRule | None:
    _DOM.check_characters(text)
    if text == "?":
        return None
    if text == "L":
        return LastDay()
    if text == "LW":
        return LastWeekday()
    nearest = _NEAREST.fullmatch(text)
    if nearest:
        return NearestWeekday(_DOM.number(nearest.group(1)))
    if "L" in text or "W" in text or "?" in text:
        raise _FieldProblem(_DOM, f"{text!r}: '?', L, LW and 15W stand alone, not in a list or range")
    return MonthDays(tuple(sorted(_values(text, _DOM))))


def _day_of_week(text: str) -> DayRule | None:
    _DOW.check_characters(text)
    if text == "?":
        return None
    if text.upper() == "L":
        return Weekdays(frozenset({_SATURDAY}))
    nth = _NTH.fullmatch(text)
    if nth:
        count = int(nth.group(2))
        if not 1 <= count <= _MAX_NTH:
            raise _FieldProblem(_DOW, f"{text!r}: the number after '#' is 1-{_MAX_NTH}, not {count}")
        return NthWeekday(_DOW.number(nth.group(1)), count)
    last_of = _LAST_OF.fullmatch(text)
    if last_of:
        return LastOfWeekday(_DOW.number(last_of.group(1)))
    if "#" in text or "?" in text or _has_l(text):
        raise _FieldProblem(_DOW, f"{text!r}: '?', L, 6L and 6#3 stand alone, not in a list or range")
    return Weekdays(frozenset(_values(text, _DOW)))


def _has_l(text: str) -> bool:
    """An L that is not part of a day name (no day name has one)."""
    return "L" in text.upper()


_PARSERS: Mapping[str, Callable[[str, str, str, tzinfo], Schedule]] = {
    "cron": _parse_cron,
    "rate": _parse_rate,
    "at": _parse_at,
}


# --------------------------------------------------------------------------- time helpers


def _utc(moment: datetime, name: str) -> datetime:
    """Arithmetic happens in UTC: on a ZoneInfo datetime, ``-`` is wall-clock arithmetic."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _instant(wall: datetime, zone: tzinfo) -> datetime | None:
    """The UTC instant a wall-clock time names: the first of two in an autumn repeat, None in a gap."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def _repeat_length(local: datetime) -> timedelta:
    """How far a repeated (autumn) wall time's first pass runs ahead of its second; 0 elsewhere."""
    first, second = local.replace(fold=0).utcoffset(), local.replace(fold=1).utcoffset()
    assert first is not None  # for mypy: local is aware
    assert second is not None
    return max(first - second, timedelta(0))


def _floor_minute(wall: datetime) -> datetime:
    return wall.replace(second=0, microsecond=0)


def _before_anchor(moment: datetime, anchor: datetime | None) -> bool:
    return anchor is not None and moment < _utc(anchor, "anchor")


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _aws_weekday(day: date) -> int:
    """1 = SUN ... 7 = SAT, as cron counts; Python counts 0 = MON."""
    return (day.weekday() + 1) % 7 + 1


# --------------------------------------------------------------------------- words


def _time_text(minutes_text: str, hours_text: str, minutes: tuple[int, ...], hours: tuple[int, ...]) -> str:
    if len(minutes) * len(hours) <= 4:
        return "at " + ", ".join(f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes)
    step = re.fullmatch(r"(?:\*|0)/(\d+)", minutes_text)
    if minutes_text == "*":
        every = "every minute"
    elif step:
        every = f"every {step.group(1)} minutes"
    elif len(minutes) == 1:
        hours_part = "every hour" if hours_text == "*" else f"hours {_compact(hours, str)}"
        return f"at minute {minutes[0]:02d} of {hours_part}"
    else:
        every = f"at minutes {_compact(minutes, str)}"
    return every if hours_text == "*" else f"{every} during hours {_compact(hours, str)}"


def _compact(values: Iterable[int], name: Callable[[int], str]) -> str:
    """1,2,3,5 -> "1-3,5": runs of three or more as ranges."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{name(run[0])}-{name(run[-1])}")
        else:
            parts.extend(name(value) for value in run)
    return ",".join(parts)


def _month_name(month: int) -> str:
    return MONTH_NAMES[month - 1]


def _weekday_name(weekday: int) -> str:
    return WEEKDAY_NAMES[weekday - 1]


def _ordinal(number: int) -> str:
    if 11 <= number % 100 <= 13:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
