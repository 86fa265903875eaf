"""Administration moments of one day from an item's schedule (pure, Europe/Amsterdam).

DST decisions (see docs/adr/0007-etrs-records.md):
- a wall-clock time that does not exist (02:00-02:59 on the last Sunday of March) is
  moved forward by the gap: 02:30 becomes 03:30 CEST, once, flagged ``dst_gap``;
- a wall-clock time that exists twice (02:00-02:59 on the last Sunday of October) is
  planned once, at its first occurrence (CEST), flagged ``dst_ambiguous``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from etrs.drafts import Schedule

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# Standard medication rounds used when a list gives "N times a day" without times.
DEFAULT_ROUNDS: dict[int, tuple[str, ...]] = {
    1: ("08:00",),
    2: ("08:00", "20:00"),
    3: ("08:00", "13:00", "18:00"),
    4: ("08:00", "12:00", "17:00", "21:00"),
}

DstNote = Literal["normal", "dst_gap", "dst_ambiguous"]


@dataclass(frozen=True)
class PlannedTime:
    """One wall-clock time on a day, resolved to an instant."""

    day: date
    hhmm: str
    planned_at: datetime  # UTC
    dst: DstNote
    time_assumed: bool  # from DEFAULT_ROUNDS, not from the list


def resolve_local(day: date, hhmm: str, tz: ZoneInfo = AMSTERDAM) -> tuple[datetime, DstNote]:
    """The UTC instant of a wall-clock time on a day, with what DST did to it."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    first = datetime.combine(day, time(hour, minute), tzinfo=tz)  # fold=0
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC), "normal"
    # The offsets differ: the time is either skipped (gap) or repeated (fold).
    back = first.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != first.replace(tzinfo=None):
        # In a gap, fold=0 uses the offset before the transition: 02:30 +01:00 = 03:30 CEST.
        return first.astimezone(UTC), "dst_gap"
    return first.astimezone(UTC), "dst_ambiguous"


def local_day_bounds(day: date, tz: ZoneInfo = AMSTERDAM) -> tuple[datetime, datetime]:
    """UTC start and end of a local calendar day (23, 24 or 25 hours long)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _anchor(schedule: Schedule, period_start: date | None) -> date | None:
    if schedule.start is not None:
        return schedule.start.astimezone(AMSTERDAM).date()
    return period_start


def _times(schedule: Schedule) -> tuple[list[str], bool]:
    if schedule.times_of_day:
        return sorted(set(schedule.times_of_day)), False
    if schedule.frequency is not None and schedule.period_days in (None, Decimal(1)):
        rounds = DEFAULT_ROUNDS.get(schedule.frequency)
        if rounds is not None:
            return list(rounds), True
    return [], False


def day_applies(
    schedule: Schedule, day: date, *, period_start: date | None, period_end: date | None
) -> bool:
    """True when the schedule has doses on this calendar day."""
    anchor = _anchor(schedule, period_start)
    if period_start is not None and day < period_start:
        return False
    if period_end is not None and day > period_end:
        return False
    if schedule.start is not None and day < schedule.start.astimezone(AMSTERDAM).date():
        return False
    if schedule.end is not None and day > schedule.end.astimezone(AMSTERDAM).date():
        return False
    if schedule.duration_days is not None and anchor is not None:
        if day >= anchor + timedelta(days=float(schedule.duration_days)):
            return False
    if schedule.weekdays and day.isoweekday() not in schedule.weekdays:
        return False
    if schedule.interval_days is not None:
        # Without a start day an interval (e.g. weekly methotrexate) cannot be placed:
        # no moments rather than a guess that could double a weekly dose.
        if anchor is None or (day - anchor).days % schedule.interval_days != 0:
            return False
    if schedule.cycle_length_days is not None and schedule.cycle_on_days is not None:
        if anchor is None:
            return False
        if (day - anchor).days % schedule.cycle_length_days >= schedule.cycle_on_days:
            return False
    return True


def planned_times(
    schedule: Schedule,
    day: date,
    *,
    period_start: date | None = None,
    period_end: date | None = None,
) -> list[PlannedTime]:
    """The moments of one local day for a scheduled (non-PRN, not stopped) item."""
    if not day_applies(schedule, day, period_start=period_start, period_end=period_end):
        return []
    times, assumed = _times(schedule)
    out: list[PlannedTime] = []
    for hhmm in times:
        at, note = resolve_local(day, hhmm)
        if schedule.start is not None and at < schedule.start:
            continue
        if schedule.end is not None and at >= schedule.end:
            continue
        out.append(PlannedTime(day, hhmm, at, note, assumed))
    return out


def moment_key(*, client_id: str, medication_key: str, ordinal: int, day: date, hhmm: str) -> str:
    """Stable id of a moment, the same across list versions for the same medication and time."""
    digest = hashlib.sha256(f"{client_id}|{medication_key}|{ordinal}".encode()).hexdigest()
    return f"{day.isoformat()}T{hhmm}/{digest[:20]}"


def day_of_moment_key(key: str) -> date:
    """The local day encoded in a moment key (ValueError when malformed)."""
    day_part, sep, rest = key.partition("T")
    if not sep or len(rest) < 7 or rest[5] != "/":
        raise ValueError(f"malformed moment key {key!r}")
    return date.fromisoformat(day_part)
