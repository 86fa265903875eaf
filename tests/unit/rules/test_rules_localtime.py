"""Night windows across midnight and across the DST changes (Europe/Amsterdam)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.localtime import at_local, in_window, window_bounds, window_day

NIGHT = (time(23, 0), time(7, 0))


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_window_crossing_midnight_includes_both_sides() -> None:
    # 22:30Z = 23:30 CET; 05:30Z = 06:30 CET; 06:30Z = 07:30 CET
    assert in_window(utc(2026, 1, 10, 22, 30), *NIGHT)
    assert in_window(utc(2026, 1, 11, 5, 30), *NIGHT)
    assert not in_window(utc(2026, 1, 11, 6, 30), *NIGHT)
    assert not in_window(utc(2026, 1, 10, 21, 59), *NIGHT)


def test_window_start_inclusive_end_exclusive() -> None:
    assert in_window(at_local(date(2026, 1, 10), time(23, 0)), *NIGHT)
    assert not in_window(at_local(date(2026, 1, 11), time(7, 0)), *NIGHT)


def test_window_within_one_day() -> None:
    assert in_window(at_local(date(2026, 1, 10), time(13, 0)), time(12, 0), time(14, 0))
    assert not in_window(at_local(date(2026, 1, 10), time(14, 0)), time(12, 0), time(14, 0))


def test_spring_forward_night_is_one_hour_shorter() -> None:
    # 29 March 2026: clocks jump 02:00 CET -> 03:00 CEST.
    start, end = window_bounds(date(2026, 3, 28), *NIGHT)
    assert start == utc(2026, 3, 28, 22, 0)
    assert end == utc(2026, 3, 29, 5, 0)
    assert end - start == timedelta(hours=7)


def test_fall_back_night_is_one_hour_longer() -> None:
    # 25 October 2026: clocks fall back 03:00 CEST -> 02:00 CET.
    start, end = window_bounds(date(2026, 10, 24), *NIGHT)
    assert start == utc(2026, 10, 24, 21, 0)
    assert end == utc(2026, 10, 25, 6, 0)
    assert end - start == timedelta(hours=9)


def test_repeated_hour_in_october_is_in_the_night_both_times() -> None:
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    second = utc(2026, 10, 25, 1, 30)  # 02:30 CET
    assert in_window(first, *NIGHT)
    assert in_window(second, *NIGHT)
    assert window_day(first, *NIGHT) == window_day(second, *NIGHT) == date(2026, 10, 24)


def test_skipped_wall_time_maps_after_the_jump() -> None:
    # 02:30 does not exist on 29 March 2026: a 02:30 schedule fires at 03:30 CEST.
    assert at_local(date(2026, 3, 29), time(2, 30)) == utc(2026, 3, 29, 1, 30)


def test_window_day_is_the_evening_the_night_started() -> None:
    assert window_day(utc(2026, 1, 11, 3, 0), *NIGHT) == date(2026, 1, 10)
    assert window_day(utc(2026, 1, 10, 22, 30), *NIGHT) == date(2026, 1, 10)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2028, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.integers(0, 23),
    st.integers(0, 23),
)
def test_in_window_agrees_with_window_bounds(ts: datetime, sh: int, eh: int) -> None:
    """Membership by wall clock equals membership in the UTC interval of that night."""
    start, end = time(sh, 0), time(eh, 0)
    if start == end:
        assert not in_window(ts, start, end)
        return
    inside = in_window(ts, start, end)
    day = window_day(ts, start, end)
    lo, hi = window_bounds(day, start, end)
    assert inside == (lo <= ts < hi)
