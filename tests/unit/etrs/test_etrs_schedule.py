"""Moments from schedules: weekdays, intervals, cycles, default rounds and DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from etrs.drafts import Schedule
from etrs.schedule import (
    day_of_moment_key,
    local_day_bounds,
    moment_key,
    planned_times,
    resolve_local,
)

SPRING = date(2026, 3, 29)  # last Sunday of March: 02:00 CET -> 03:00 CEST
AUTUMN = date(2026, 10, 25)  # last Sunday of October: 03:00 CEST -> 02:00 CET


def test_a_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    at, note = resolve_local(SPRING, "02:30")
    assert at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert note == "dst_gap"


def test_a_repeated_autumn_time_is_planned_once_at_its_first_occurrence() -> None:
    at, note = resolve_local(AUTUMN, "02:30")
    assert at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert note == "dst_ambiguous"


def test_dst_days_are_23_and_25_hours_long() -> None:
    s, e = local_day_bounds(SPRING)
    assert e - s == timedelta(hours=23)
    s, e = local_day_bounds(AUTUMN)
    assert e - s == timedelta(hours=25)


def test_ordinary_times_resolve_with_the_seasons_offset() -> None:
    assert resolve_local(date(2026, 1, 5), "08:00") == (
        datetime(2026, 1, 5, 7, 0, tzinfo=UTC),
        "normal",
    )
    assert resolve_local(date(2026, 7, 5), "08:00") == (
        datetime(2026, 7, 5, 6, 0, tzinfo=UTC),
        "normal",
    )


def test_weekdays_filter_days() -> None:
    sched = Schedule(times_of_day=["09:00"], weekdays=[1, 4])
    days = [date(2026, 3, 16) + timedelta(days=n) for n in range(7)]
    assert [d.isoweekday() for d in days if planned_times(sched, d)] == [1, 4]


def test_weekly_interval_counts_from_the_start_day_and_needs_one() -> None:
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    weekly = Schedule(times_of_day=["08:00"], interval_days=7, start=start)
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(21)]
    assert [d for d in days if planned_times(weekly, d)] == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
    ]
    unanchored = Schedule(times_of_day=["08:00"], interval_days=7)
    assert not any(planned_times(unanchored, d) for d in days)


def test_cycle_on_and_off_days() -> None:
    sched = Schedule(times_of_day=["08:00"], cycle_length_days=28, cycle_on_days=21)
    start = date(2026, 1, 1)
    on = [
        n for n in range(56) if planned_times(sched, start + timedelta(days=n), period_start=start)
    ]
    assert on == [*range(21), *range(28, 49)]


def test_start_and_end_instants_bound_the_moments() -> None:
    sched = Schedule(
        times_of_day=["08:00", "20:00"],
        start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
        end=datetime(2026, 3, 22, 12, 0, tzinfo=UTC),
    )
    got = [
        (d.day, p.hhmm)
        for d in (date(2026, 3, 19), date(2026, 3, 20), date(2026, 3, 21), date(2026, 3, 22))
        for p in planned_times(sched, d)
    ]
    assert got == [(20, "20:00"), (21, "08:00"), (21, "20:00"), (22, "08:00")]


def test_frequency_without_times_uses_standard_rounds_flagged_assumed() -> None:
    sched = Schedule(frequency=3, period_days=Decimal(1))
    got = planned_times(sched, date(2026, 3, 20))
    assert [p.hhmm for p in got] == ["08:00", "13:00", "18:00"]
    assert all(p.time_assumed for p in got)


def test_moment_keys_are_stable_and_carry_the_day() -> None:
    k1 = moment_key(client_id="c", medication_key="gpk:1", ordinal=0, day=SPRING, hhmm="02:30")
    k2 = moment_key(client_id="c", medication_key="gpk:1", ordinal=0, day=SPRING, hhmm="02:30")
    k3 = moment_key(client_id="c", medication_key="gpk:1", ordinal=1, day=SPRING, hhmm="02:30")
    assert k1 == k2 != k3
    assert day_of_moment_key(k1) == SPRING
    assert len(k1) <= 100


clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@settings(max_examples=200)
@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    times=st.lists(clock, min_size=1, max_size=6, unique=True),
)
def test_every_moment_lies_on_its_local_day_once_and_in_order(day: date, times: list[str]) -> None:
    got = planned_times(Schedule(times_of_day=times), day)
    start, end = local_day_bounds(day)
    assert len(got) == len(times)
    assert all(start <= p.planned_at < end for p in got)
    assert [p.hhmm for p in got] == sorted(times)
    # Wall-clock order is kept except where a gap time is pushed past a later one.
    instants = [p.planned_at for p in got if p.dst == "normal"]
    assert instants == sorted(instants)
