"""Dates as Elasticsearch's ``date`` type reads them: milliseconds since the epoch, with
rounding for the parts a query leaves out, and date math (``now-1d/d``).

Fed by: the typed compiler (:mod:`audithound.kql.typed`), with a query's values and bounds
and, per document, the values of a ``date`` field; the evaluator, which sets the
:class:`Clock` that ``now`` reads. Feeds: instants as integers, compared as integers.

Elasticsearch's rules reproduced here (the mapping's default format,
``strict_date_optional_time||epoch_millis``):
- a date is ``yyyy[-MM[-dd]]``, then optionally ``T`` and ``HH[:mm[:ss[.f]]]`` (1-9 fraction
  digits, ``.`` or ``,``) and a zone (``Z``, ``+01``, ``+01:00``, ``+0100``); no zone is UTC;
  the calendar is checked (``2026-02-30`` is no date). Anything else that is digits is epoch
  milliseconds, so a four-digit number is a year, never a number of milliseconds;
- a date is held to the millisecond: further digits are dropped (truncated);
- a part a query leaves out is filled when its value is rounded DOWN with its least value
  (month and day 1, the time 00:00:00.000) and when rounded UP with month 1, day 1, 23:59:59
  and .999: Elasticsearch fills a missing month or day with 1 in both directions, so
  ``2026-11`` rounded up is 2026-11-01T23:59:59.999, not the end of November;
- date math: ``now`` or ``<date>||``, then any of ``+N<unit>``, ``-N<unit>`` (N omitted is
  1) and ``/<unit>`` (rounding: down to the start of the unit, or up to its last
  millisecond), units ``y M w d h H m s``; weeks start on Monday; adding months keeps the
  day where the month has it, else the month's last day. The date before ``||`` is rounded
  down; ``now`` is :class:`Clock`'s time, in whole milliseconds.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import time
from collections.abc import Callable

MS_PER_DAY = 86_400_000
_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "H": 3_600_000, "d": MS_PER_DAY}

_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?"
    r"(?:T(?:(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_EPOCH_MILLIS = re.compile(r"-?\d+")
_MATH = re.compile(r"([+-])(\d*)([yMwdhHms])|/([yMwdhHms])")
#: Largest amount in one date-math step: as Elasticsearch reads it (a Java int).
_MAX_AMOUNT = 2**31 - 1
#: Instants a query may name (unit: milliseconds): years 1 to 9999, as Python dates allow.
_EARLIEST = -62_135_596_800_000
_LATEST = 253_402_300_799_999


class DateError(ValueError):
    """A value that is no date, or date math that Elasticsearch refuses."""


class Clock:
    """The time ``now`` stands for in date math (unit: milliseconds since the epoch).

    The evaluator sets :attr:`millis` for each event (the operator's read time, the event's
    own time in ``scan``); unset, it is the wall clock. :attr:`used` says whether any
    compiled query reads it, so that nobody computes a time no query needs.
    """

    def __init__(self) -> None:
        self.millis: int | None = None
        self.used = False

    def now(self) -> int:
        return self.millis if self.millis is not None else time.time_ns() // 1_000_000

    def set(self, moment: datetime.datetime) -> None:
        self.millis = _datetime_millis(moment)


def _datetime_millis(moment: datetime.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def _days_from_civil(year: int, month: int, day: int) -> int:
    return datetime.date(year, month, day).toordinal() - 719_163


def parse(text: str, *, round_up: bool) -> int | None:
    """The instant a date names, its missing parts rounded down or up, else None."""
    found = _DATE.fullmatch(text)
    if found is None:
        if _EPOCH_MILLIS.fullmatch(text) and len(text) <= 20:
            return int(text)
        return None
    parts = found.groupdict()
    year = int(parts["year"])
    month = int(parts["month"] or 1)
    day = int(parts["day"] or 1)
    hour = int(parts["hour"]) if parts["hour"] else (23 if round_up else 0)
    minute = int(parts["minute"]) if parts["minute"] else (59 if round_up else 0)
    second = int(parts["second"]) if parts["second"] else (59 if round_up else 0)
    # A fraction counts to the millisecond (further digits are dropped); none is filled.
    millis = (
        int(parts["fraction"].ljust(3, "0")[:3]) if parts["fraction"] else (999 if round_up else 0)
    )
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    if year < 1 or day < 1 or day > calendar.monthrange(year, month)[1]:
        return None
    offset = _offset(parts["zone"])
    if offset is None:
        return None
    days = _days_from_civil(year, month, day)
    clock = ((hour * 60 + minute) * 60 + second) * 1_000 + millis
    return days * MS_PER_DAY + clock - offset


def _offset(zone: str | None) -> int | None:
    """A zone's offset from UTC (unit: milliseconds); None when it is no valid offset."""
    if zone is None or zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 18 or minutes > 59:
        return None
    return sign * (hours * 60 + minutes) * 60_000


def document_millis(value: object) -> int | None:
    """A document's date value as Elasticsearch indexes it, to the millisecond; None for a
    value that is no date (it never matches)."""
    if type(value) is str:
        return parse(value, round_up=False)
    if type(value) is int:
        return value
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Expression:
    """A value of a ``date`` field in a query: a date, or date math over ``now`` or a date."""

    #: The anchor: an instant, or None for ``now``.
    anchor: int | None
    #: ``(sign, amount, unit)`` steps, and ``(0, 0, unit)`` for a rounding ``/unit``.
    steps: tuple[tuple[int, int, str], ...]
    #: The text, when it is a plain date (rounded by the parser, not by steps).
    plain: str | None

    @property
    def uses_now(self) -> bool:
        return self.anchor is None and self.plain is None

    def resolve(self, now: int, *, round_up: bool) -> int:
        """The instant, ``now`` given (unit: milliseconds)."""
        if self.plain is not None:
            found = parse(self.plain, round_up=round_up)
            assert found is not None  # checked by compile_expression
            return found
        instant = now if self.anchor is None else self.anchor
        for sign, amount, unit in self.steps:
            instant = (
                _round(instant, unit, round_up) if sign == 0 else _add(instant, sign * amount, unit)
            )
        if not _EARLIEST <= instant <= _LATEST:
            raise DateError("date math past the years 1 to 9999")
        return instant


def compile_expression(text: str) -> Expression:
    """A query's date value, checked once; raises :class:`DateError` for what is no date."""
    if text.startswith("now"):
        anchor: int | None = None
        math = text[3:]
    elif "||" in text:
        date, math = text.split("||", 1)
        anchor = parse(date, round_up=False)
        if anchor is None:
            raise DateError(f"{date!r} is not a date")
    else:
        if parse(text, round_up=False) is None or parse(text, round_up=True) is None:
            raise DateError(f"{text!r} is not a date")
        return Expression(None, (), text)
    steps: list[tuple[int, int, str]] = []
    position = 0
    while position < len(math):
        step = _MATH.match(math, position)
        if step is None:
            raise DateError(
                f"date math {math!r}: expected +N<unit>, -N<unit> or /<unit> "
                f"(units y M w d h H m s) at {math[position:]!r}"
            )
        sign, amount, unit, rounding = step.groups()
        if rounding is not None:
            steps.append((0, 0, rounding))
        else:
            count = int(amount) if amount else 1
            if count > _MAX_AMOUNT:
                raise DateError(f"date math {math!r}: {amount} is too large")
            steps.append((1 if sign == "+" else -1, count, unit))
        position = step.end()
    expression = Expression(anchor, tuple(steps), None)
    # Try it once, now: an amount that leaves the calendar is an error here, not per event.
    now = Clock().now()
    expression.resolve(now, round_up=False)
    expression.resolve(now, round_up=True)
    return expression


def _to_datetime(instant: int) -> datetime.datetime:
    try:
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=instant)
    except OverflowError as error:
        raise DateError("date math past the years 1 to 9999") from error


def _from_datetime(moment: datetime.datetime) -> int:
    return _datetime_millis(moment.replace(tzinfo=datetime.UTC))


def _add(instant: int, amount: int, unit: str) -> int:
    if unit in _MS:
        return instant + amount * _MS[unit]
    if unit == "w":
        return instant + amount * 7 * MS_PER_DAY
    moment = _to_datetime(instant)
    months = moment.month - 1 + (amount * 12 if unit == "y" else amount)
    year = moment.year + months // 12
    month = months % 12 + 1
    if not 1 <= year <= 9999:
        raise DateError("date math past the years 1 to 9999")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return _from_datetime(moment.replace(year=year, month=month, day=day))


_STARTS: dict[str, Callable[[datetime.datetime], datetime.datetime]] = {
    "y": lambda m: m.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
    "M": lambda m: m.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
    "w": lambda m: (m - datetime.timedelta(days=m.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    ),
    "d": lambda m: m.replace(hour=0, minute=0, second=0, microsecond=0),
    "h": lambda m: m.replace(minute=0, second=0, microsecond=0),
    "H": lambda m: m.replace(minute=0, second=0, microsecond=0),
    "m": lambda m: m.replace(second=0, microsecond=0),
    "s": lambda m: m.replace(microsecond=0),
}


def _round(instant: int, unit: str, up: bool) -> int:
    """``/unit``: the unit's first millisecond, or (``up``) its last."""
    start = _from_datetime(_STARTS[unit](_to_datetime(instant)))
    if not up:
        return start
    return _add(start, 1, unit) - 1
