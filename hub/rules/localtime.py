"""Europe/Amsterdam wall-clock helpers for care schedules and night windows (DST-correct)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

CARE_TZ = ZoneInfo("Europe/Amsterdam")


@lru_cache(maxsize=1024)
def parse_hhmm(value: str) -> time:
    """'23:00' -> time(23, 0) (cached: care plans ask for the same few times per event)."""
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


# The last conversion, keyed by the instant object itself: the rules convert the same
# event time several times in a row. One tuple, swapped atomically, so threads are safe.
_last_local: tuple[datetime, datetime] | None = None


def local(ts: datetime) -> datetime:
    """The Amsterdam wall-clock reading of an aware instant."""
    global _last_local
    last = _last_local
    if last is not None and last[0] is ts:
        return last[1]
    lt = ts.astimezone(CARE_TZ)
    _last_local = (ts, lt)
    return lt


def at_local(day: date, wall: time) -> datetime:
    """The UTC instant at which Amsterdam clocks show `wall` on `day`.

    A wall time skipped by the spring-forward change (02:30 on the last Sunday of
    March) maps to the instant one hour later on the new clock, which is what a
    carer's phone shows; a repeated one in October takes its first occurrence.
    """
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=CARE_TZ, fold=0)
    return aware.astimezone(UTC)


def in_window(ts: datetime, start: time, end: time) -> bool:
    """True when Amsterdam wall time of `ts` is in [start, end); windows may cross midnight."""
    t = local(ts).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def window_day(ts: datetime, start: time, end: time) -> date:
    """The local date a night window (crossing midnight) started on, for an instant inside it."""
    lt = local(ts)
    if start > end and lt.time().replace(tzinfo=None) < end:
        return lt.date() - timedelta(days=1)
    return lt.date()


def window_bounds(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """UTC start and end of the window that starts on `day` (end on the next day if it wraps)."""
    end_day = day + timedelta(days=1) if start >= end else day
    return at_local(day, start), at_local(end_day, end)


def minutes_of_day(ts: datetime) -> float:
    """Minutes since local midnight by the wall clock (07:30 -> 450.0)."""
    lt = local(ts)
    return lt.hour * 60 + lt.minute + lt.second / 60
