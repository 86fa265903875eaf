"""Pure schedule arithmetic: when does a robot message happen (Europe/Amsterdam, DST-correct).

DST decision (ADR 0010): a wall time that does not exist on the spring-forward Sunday
(02:00-02:59 on the last Sunday of March) happens one hour later on the new clock
(02:30 -> 03:30 CEST, 01:30 UTC), and a wall time that occurs twice on the fall-back
Sunday happens once, at its first occurrence (02:30 CEST, 00:30 UTC). This is what
`zoneinfo` gives for fold=0, what the simulated robot does, and what the rules use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

CARE_TZ = ZoneInfo("Europe/Amsterdam")


class Recurrence(StrEnum):
    """How often a message is spoken."""

    ONCE = "once"
    DAILY = "daily"
    WEEKDAYS = "weekdays"


@dataclass(frozen=True, slots=True)
class MessageRule:
    """The timing part of a scheduled message."""

    message_id: str
    at: str  # HH:MM Amsterdam
    recurrence: Recurrence
    weekdays: tuple[int, ...] = ()  # ISO weekdays for WEEKDAYS
    on: date | None = None  # for ONCE


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One moment a message is due."""

    message_id: str
    scheduled_for: datetime  # UTC


def parse_hhmm(value: str) -> time:
    """'07:30' -> time(7, 30)."""
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def at_local(day: date, wall: time) -> datetime:
    """The UTC instant Amsterdam clocks show `wall` on `day` (skipped +1 h, repeated first)."""
    return datetime.combine(day, wall).replace(tzinfo=CARE_TZ, fold=0).astimezone(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC start and end of an Amsterdam calendar day (23 or 25 hours on DST Sundays)."""
    return at_local(day, time(0, 0)), at_local(day + timedelta(days=1), time(0, 0))


def local_day(ts: datetime) -> date:
    """The Amsterdam calendar date of an aware instant."""
    return ts.astimezone(CARE_TZ).date()


def happens_on(rule: MessageRule, day: date) -> bool:
    """True when the message is due on this Amsterdam date."""
    if rule.recurrence is Recurrence.ONCE:
        return rule.on == day
    if rule.recurrence is Recurrence.WEEKDAYS:
        return day.isoweekday() in rule.weekdays
    return True


def occurrences(rules: list[MessageRule], day: date) -> list[Occurrence]:
    """The moments on an Amsterdam date, in time order (ties by message id)."""
    out = [
        Occurrence(r.message_id, at_local(day, parse_hhmm(r.at)))
        for r in rules
        if happens_on(r, day)
    ]
    return sorted(out, key=lambda o: (o.scheduled_for, o.message_id))


def occurrences_between(
    rules: list[MessageRule], start: datetime, end: datetime
) -> list[Occurrence]:
    """The moments in [start, end), across as many Amsterdam days as needed."""
    out: list[Occurrence] = []
    day = local_day(start) - timedelta(days=1)
    last = local_day(end)
    while day <= last:
        out += [o for o in occurrences(rules, day) if start <= o.scheduled_for < end]
        day += timedelta(days=1)
    return sorted(out, key=lambda o: (o.scheduled_for, o.message_id))
