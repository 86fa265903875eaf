"""Robot schedule arithmetic: weekdays, one-offs and DST on Amsterdam wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.robots.schedule import (
    CARE_TZ,
    MessageRule,
    Recurrence,
    at_local,
    day_bounds,
    local_day,
    occurrences,
    occurrences_between,
    parse_hhmm,
)
from hub.robots.schemas import MessageIn
from simulators.life import SEC, hhmm_minutes, local_ms

SPRING = date(2026, 3, 29)  # last Sunday of March 2026: 02:00 CET -> 03:00 CEST
AUTUMN = date(2026, 10, 25)  # last Sunday of October 2026: 03:00 CEST -> 02:00 CET


def rule(mid: str, at: str, rec: Recurrence = Recurrence.DAILY, **kw: object) -> MessageRule:
    return MessageRule(mid, at, rec, **kw)  # type: ignore[arg-type]


def test_daily_message_is_at_local_time_in_winter_and_summer() -> None:
    r = [rule("goedemorgen", "08:00")]
    assert occurrences(r, date(2026, 1, 15))[0].scheduled_for == datetime(
        2026, 1, 15, 7, 0, tzinfo=UTC
    )
    assert occurrences(r, date(2026, 7, 15))[0].scheduled_for == datetime(
        2026, 7, 15, 6, 0, tzinfo=UTC
    )


def test_weekday_message_only_on_chosen_days() -> None:
    r = [rule("boodschappen", "10:00", Recurrence.WEEKDAYS, weekdays=(2, 5))]
    week = [date(2026, 11, 23) + timedelta(days=i) for i in range(7)]  # Monday..Sunday
    spoken = [d.isoweekday() for d in week if occurrences(r, d)]
    assert spoken == [2, 5]


def test_one_off_message_only_on_its_date() -> None:
    r = [rule("kapper", "14:00", Recurrence.ONCE, on=date(2026, 12, 1))]
    assert occurrences(r, date(2026, 11, 30)) == []
    assert [o.message_id for o in occurrences(r, date(2026, 12, 1))] == ["kapper"]
    assert occurrences(r, date(2026, 12, 2)) == []


def test_skipped_wall_time_on_spring_forward_happens_an_hour_later() -> None:
    occ = occurrences([rule("nacht", "02:30")], SPRING)
    assert len(occ) == 1
    assert occ[0].scheduled_for == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert occ[0].scheduled_for.astimezone(CARE_TZ).strftime("%H:%M") == "03:30"
    assert at_local(SPRING, parse_hhmm("03:30")) == occ[0].scheduled_for


def test_repeated_wall_time_on_fall_back_happens_once_at_first_occurrence() -> None:
    occ = occurrences([rule("nacht", "02:30")], AUTUMN)
    assert [o.scheduled_for for o in occ] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]


def test_dst_days_have_23_and_25_hours() -> None:
    s, e = day_bounds(SPRING)
    assert e - s == timedelta(hours=23)
    s, e = day_bounds(AUTUMN)
    assert e - s == timedelta(hours=25)


def test_occurrences_between_spans_days_in_order() -> None:
    r = [rule("a", "07:00"), rule("b", "21:00")]
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    occ = occurrences_between(r, start, start + timedelta(days=1))
    assert [(o.message_id, local_day(o.scheduled_for)) for o in occ] == [
        ("b", date(2026, 3, 28)),
        ("a", date(2026, 3, 29)),
    ]


@settings(max_examples=80, deadline=None)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
    hh=st.integers(0, 23),
    mm=st.integers(0, 59),
)
def test_hub_and_simulated_robot_agree_on_every_moment(day: date, hh: int, mm: int) -> None:
    at = f"{hh:02d}:{mm:02d}"
    occ = occurrences([rule("x", at)], day)
    robot_ms = local_ms(day, hhmm_minutes(at))  # what the robot itself does
    assert int(occ[0].scheduled_for.timestamp()) * SEC == robot_ms
    assert local_day(occ[0].scheduled_for) == day


@settings(max_examples=60, deadline=None)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
    weekdays=st.sets(st.integers(1, 7), min_size=1),
)
def test_weekday_rule_fires_exactly_on_its_weekdays(day: date, weekdays: set[int]) -> None:
    r = [rule("w", "09:00", Recurrence.WEEKDAYS, weekdays=tuple(sorted(weekdays)))]
    assert bool(occurrences(r, day)) == (day.isoweekday() in weekdays)


def test_message_input_rules() -> None:
    ok = MessageIn(text="Koffie", at="10:00", recurrence=Recurrence.WEEKDAYS, weekdays=[5, 2, 2])
    assert ok.weekdays == [2, 5]
    with pytest.raises(ValidationError, match="at least one weekday"):
        MessageIn(text="x", at="10:00", recurrence=Recurrence.WEEKDAYS)
    with pytest.raises(ValidationError, match="only for recurrence"):
        MessageIn(text="x", at="10:00", recurrence=Recurrence.DAILY, weekdays=[1])
    with pytest.raises(ValidationError, match="`on` is required"):
        MessageIn(text="x", at="10:00", recurrence=Recurrence.ONCE)
    with pytest.raises(ValidationError, match="only a question"):
        MessageIn(text="x", at="10:00", recurrence=Recurrence.DAILY, repeat_if_unanswered_min=5)
    with pytest.raises(ValidationError):
        MessageIn(text="x", at="24:00", recurrence=Recurrence.DAILY)
    with pytest.raises(ValidationError):
        MessageIn.model_validate({"text": "x", "at": "10:00", "recurrence": "daily", "y": 1})
