"""Each rule with small hand-written event sequences (pure: no broker, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from rules_helpers import (
    CLIENT,
    HOME,
    ams,
    door,
    dose,
    engine,
    event,
    feed,
    keepalive,
    motion,
    occ,
    rules,
    status,
)

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.rules.careplan import CarePlan, RuleSwitches
from hub.rules.model import AlertDecision, EngineEvent, Rule, Severity, StatusChange

MIN = timedelta(minutes=1)
DAY = ams(2026, 1, 14, 0)  # a Wednesday in winter (CET)


# --- night exit -------------------------------------------------------------------------


def test_front_door_at_night_and_nobody_inside_raises_night_exit_after_grace() -> None:
    t = ams(2026, 1, 14, 2, 10)
    eng = engine(register_at=t - timedelta(hours=1))
    out = feed(
        eng,
        [
            motion(t - MIN, "hallway"),
            door(t, "front_door", "open"),
            door(t + timedelta(seconds=8), "front_door", "closed"),
        ],
        until=t + 10 * MIN,
    )
    exits = [d for d in out if d.rule is Rule.NIGHT_EXIT]
    assert len(exits) == 1
    assert exits[0].raised_at == t + 3 * MIN
    assert exits[0].severity is Severity.HIGH


def test_wandering_risk_halves_the_grace_and_makes_it_critical() -> None:
    t = ams(2026, 1, 14, 2, 10)
    eng = engine(CarePlan(wandering_risk="high"), register_at=t - timedelta(hours=1))
    out = feed(eng, [door(t, "front_door", "open")], until=t + 10 * MIN)
    (exit_,) = [d for d in out if d.rule is Rule.NIGHT_EXIT]
    assert exit_.raised_at == t + timedelta(seconds=90)
    assert exit_.severity is Severity.CRITICAL


def test_door_opened_at_night_but_client_walks_back_inside_is_no_exit() -> None:
    t = ams(2026, 1, 14, 2, 10)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        door(t, "front_door", "open"),
        door(t + timedelta(seconds=20), "front_door", "closed"),
        motion(t + timedelta(seconds=30), "hallway"),
        motion(t + timedelta(seconds=60), "bedroom"),
        occ(t + timedelta(seconds=90), "bed", "occupied"),
    ]
    assert Rule.NIGHT_EXIT not in [d.rule for d in feed(eng, seq, until=t + 10 * MIN)]


def test_one_late_event_from_before_leaving_does_not_cancel_the_exit() -> None:
    """A reordered hallway event (stamped before the door) is one sign; two are needed."""
    t = ams(2026, 1, 14, 2, 10)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [door(t, "front_door", "open"), motion(t - timedelta(seconds=5), "hallway")]
    assert Rule.NIGHT_EXIT in [d.rule for d in feed(eng, seq, until=t + 10 * MIN)]


def test_front_door_by_day_is_no_night_exit() -> None:
    t = ams(2026, 1, 14, 14, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    assert Rule.NIGHT_EXIT not in rules(
        feed(eng, [door(t, "front_door", "open")], until=t + 10 * MIN)
    )


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [(22, 59, False), (23, 0, True), (23, 59, True), (0, 30, True), (6, 59, True), (7, 0, False)],
)
def test_night_exit_follows_the_care_plan_window_across_midnight(
    hour: int, minute: int, expected: bool
) -> None:
    t = ams(2026, 1, 15 if hour < 12 else 14, hour, minute)
    eng = engine(register_at=t - timedelta(hours=1))
    got = Rule.NIGHT_EXIT.value in rules(
        feed(eng, [door(t, "front_door", "open")], until=t + 10 * MIN)
    )
    assert got is expected


def test_night_exit_in_the_repeated_hour_of_the_october_change() -> None:
    # 25 Oct 2026 02:30 CET (the second 02:30) is still in a 23:00-07:00 night.
    t = ams(2026, 10, 25, 2, 30).replace(fold=1).astimezone(UTC)  # UTC: safe arithmetic
    eng = engine(register_at=t - timedelta(hours=1))
    assert Rule.NIGHT_EXIT.value in rules(
        feed(eng, [door(t, "front_door", "open")], until=t + 10 * MIN)
    )


def test_night_exit_on_the_spring_forward_night_uses_summer_time_end() -> None:
    # 29 Mar 2026: 06:30 CEST is 04:30 UTC, inside; 07:10 CEST is outside.
    inside = ams(2026, 3, 29, 6, 30)
    outside = ams(2026, 3, 29, 7, 10)
    for t, expected in ((inside, True), (outside, False)):
        eng = engine(register_at=t - timedelta(hours=1))
        got = Rule.NIGHT_EXIT.value in rules(
            feed(eng, [door(t, "front_door", "open")], until=t + 10 * MIN)
        )
        assert got is expected


def test_an_exit_at_the_same_time_on_three_recent_days_becomes_a_habit() -> None:
    eng = engine(register_at=ams(2026, 1, 10, 5, 0))
    raised = []
    for day in range(10, 15):
        t = ams(2026, 1, day, 6, 20)
        seq = [door(t, "front_door", "open")]
        back = t + timedelta(minutes=45)
        seq += [
            door(back, "front_door", "open"),
            motion(back + MIN, "hallway"),
            motion(back + 2 * MIN, "kitchen"),
        ]
        raised.append(Rule.NIGHT_EXIT.value in rules(feed(eng, seq)))
    assert raised == [True, True, True, False, False]


def _rise_and_go_out(t: datetime) -> list[EngineEvent]:
    """Out of bed at `t`, a few minutes in the bedroom and hallway, out of the door."""
    return [
        occ(t, "bed", "vacant"),
        motion(t + MIN, "bedroom"),
        motion(t + 4 * MIN, "hallway"),
        door(t + 5 * MIN, "front_door", "open"),
        door(t + 5 * MIN + timedelta(seconds=8), "front_door", "closed"),
    ]


@pytest.mark.parametrize(
    ("risk", "hour", "expected"),
    [
        ("low", 6, False),  # up for the day (after morning_from), then out: the day began
        ("high", 6, True),  # the care plan rates wandering a risk: every night door counts
        ("low", 3, True),  # out of bed before morning_from: still the night
    ],
)
def test_leaving_after_getting_up_for_the_day_is_no_exit_for_a_low_risk_client(
    risk: Literal["low", "high"], hour: int, expected: bool
) -> None:
    """From the first day, before any habit can be learned (the early walker)."""
    t = ams(2026, 1, 14, hour, 10)
    eng = engine(CarePlan(wandering_risk=risk), register_at=t - timedelta(hours=1))
    seq = [occ(t - timedelta(hours=1), "bed", "occupied"), *_rise_and_go_out(t)]
    got = rules(feed(eng, seq, until=t + 30 * MIN))
    assert (Rule.NIGHT_EXIT.value in got) is expected


def test_back_in_bed_after_rising_makes_the_next_door_a_night_exit_again() -> None:
    t = ams(2026, 1, 14, 5, 30)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        occ(t, "bed", "vacant"),
        motion(t + MIN, "toilet"),
        motion(t + 4 * MIN, "bedroom"),
        occ(t + 5 * MIN, "bed", "occupied"),
        occ(t + 40 * MIN, "bed", "vacant"),  # 06:10, not yet 20 min up when leaving
        motion(t + 41 * MIN, "hallway"),
        door(t + 42 * MIN, "front_door", "open"),
    ]
    assert Rule.NIGHT_EXIT.value not in rules(feed(eng, seq, until=t + 60 * MIN))
    # a low-risk client who went back to bed and then out before getting up: an exit
    t2 = ams(2026, 1, 15, 5, 30)
    seq2 = [
        occ(t2, "bed", "vacant"),
        motion(t2 + MIN, "toilet"),
        occ(t2 + 5 * MIN, "bed", "occupied"),
        motion(t2 + 30 * MIN, "hallway"),
        door(t2 + 31 * MIN, "front_door", "open"),
    ]
    assert rules(feed(eng, seq2, until=t2 + 60 * MIN)).count(Rule.NIGHT_EXIT.value) == 1


def test_a_low_risk_client_up_since_the_morning_leaving_late_at_night_is_an_exit() -> None:
    t = ams(2026, 1, 14, 7, 30)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        occ(t - timedelta(hours=1), "bed", "occupied"),
        occ(t, "bed", "vacant"),
        motion(t + MIN, "bathroom"),
        motion(t + 25 * MIN, "kitchen"),  # up for the day
        *keepalive(t, t + timedelta(hours=16), timedelta(hours=1)),
        motion(ams(2026, 1, 14, 23, 40), "hallway"),  # never went to bed
        door(ams(2026, 1, 14, 23, 41), "front_door", "open"),
    ]
    out = feed(eng, seq, until=ams(2026, 1, 14, 23, 50))
    assert rules(out).count(Rule.NIGHT_EXIT.value) == 1


def _robot_answer(ts: datetime, answer: str) -> EngineEvent:
    data = {"message_id": "drinken", "answer": answer, "scheduled_for": ts.isoformat()}
    env = Envelope(
        id=f"rbt-{ts.timestamp()}",
        device_id="rbt-1",
        ts=ts,
        seq=1,
        type="question.answered",
        data=data,
    )
    return EngineEvent(HOME, CLIENT, "rbt-1", Kind.ROBOT, env)


def test_a_robot_answer_just_after_the_door_is_no_sign_the_client_stayed_in() -> None:
    """Answered on the way out (the robot reports it up to a minute after asking): the
    client is out, so the quiet home is neither a fall nor (at night) no exit."""
    for hour, rule in ((15, Rule.FALL), (2, Rule.NIGHT_EXIT)):
        t = ams(2026, 1, 14, hour, 0)
        eng = engine(register_at=t - timedelta(hours=1))
        seq = [
            motion(t, "hallway"),
            door(t + MIN, "front_door", "open"),
            door(t + MIN + timedelta(seconds=10), "front_door", "closed"),
            _robot_answer(t + MIN + timedelta(seconds=2), "no"),
        ]
        got = rules(feed(eng, seq, until=t + timedelta(hours=1)))
        assert (Rule.NIGHT_EXIT.value in got) is (rule is Rule.NIGHT_EXIT)
        assert Rule.FALL.value not in got


# --- possible fall ----------------------------------------------------------------------


def test_stillness_on_the_toilet_raises_a_fall_at_the_plan_limit_while_learning() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [occ(t, "chair", "vacant"), motion(t + MIN, "hallway"), motion(t + 2 * MIN, "toilet")]
    out = feed(eng, seq, until=t + timedelta(hours=1))
    (fall,) = [d for d in out if d.rule is Rule.FALL]
    assert fall.raised_at == t + 2 * MIN + timedelta(minutes=25)
    assert fall.severity is Severity.CRITICAL
    assert fall.detail["last_place"] == "toilet"


def test_stillness_in_bed_or_chair_is_rest_not_a_fall() -> None:
    t = ams(2026, 1, 14, 14, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [motion(t, "living_room"), occ(t + MIN, "chair", "occupied")]
    assert Rule.FALL not in [d.rule for d in feed(eng, seq, until=t + timedelta(hours=3))]


def test_chair_occupied_but_client_seen_elsewhere_still_counts_stillness() -> None:
    t = ams(2026, 1, 14, 14, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [occ(t, "chair", "occupied"), motion(t + MIN, "hallway"), motion(t + 2 * MIN, "toilet")]
    assert Rule.FALL in [d.rule for d in feed(eng, seq, until=t + timedelta(hours=1))]


def test_client_who_left_the_home_is_not_lying_still() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        motion(t, "hallway"),
        door(t + MIN, "front_door", "open"),
        door(t + MIN + timedelta(seconds=8), "front_door", "closed"),
    ]
    assert Rule.FALL not in [d.rule for d in feed(eng, seq, until=t + timedelta(hours=2))]


def test_dead_motion_sensor_suppresses_fall_alerts() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [motion(t, "toilet"), status(t + MIN, "mot-bathroom", "offline")]
    assert Rule.FALL not in [d.rule for d in feed(eng, seq, until=t + timedelta(minutes=40))]


def test_bath_stillness_below_the_bathroom_maximum_is_no_fall() -> None:
    t = ams(2026, 1, 14, 20, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        motion(t, "bathroom"),
        motion(t + 20 * MIN, "bathroom"),
        motion(t + 40 * MIN, "bathroom"),
        motion(t + 45 * MIN, "hallway"),
        motion(t + 46 * MIN, "living_room"),
        occ(t + 46 * MIN, "chair", "occupied"),
    ]
    assert Rule.FALL not in [d.rule for d in feed(eng, seq, until=t + timedelta(hours=2))]


def test_fall_is_raised_once_per_still_spell() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    out = feed(eng, [motion(t, "hallway")], until=t + timedelta(hours=5))
    assert rules(out).count("fall") == 1


# --- not up -----------------------------------------------------------------------------


def _night(eng_day: int) -> list:  # type: ignore[type-arg]
    t = ams(2026, 1, eng_day - 1, 22, 30)
    return [motion(t, "bedroom"), occ(t + MIN, "bed", "occupied")]


def test_in_bed_past_the_deadline_raises_not_up_at_the_deadline() -> None:
    plan = CarePlan(usual_wake="07:30", wake_deadline_min=90)
    eng = engine(plan, register_at=ams(2026, 1, 13, 20, 0))
    out = feed(
        eng,
        _night(14) + keepalive(ams(2026, 1, 14, 0, 0), ams(2026, 1, 14, 12, 0)),
        until=ams(2026, 1, 14, 12, 0),
    )
    (nu,) = [d for d in out if d.rule is Rule.NOT_UP]
    assert nu.raised_at == ams(2026, 1, 14, 9, 0)


def test_up_before_the_deadline_is_no_alert() -> None:
    plan = CarePlan(usual_wake="07:30", wake_deadline_min=90)
    eng = engine(plan, register_at=ams(2026, 1, 13, 20, 0))
    up = ams(2026, 1, 14, 7, 40)
    seq = _night(14) + [
        occ(up, "bed", "vacant"),
        motion(up + MIN, "bathroom"),
        motion(up + 25 * MIN, "kitchen"),
        occ(up + 30 * MIN, "chair", "occupied"),
    ]
    seq += keepalive(ams(2026, 1, 14, 8, 30), ams(2026, 1, 14, 12, 0))
    assert Rule.NOT_UP not in [d.rule for d in feed(eng, seq, until=ams(2026, 1, 14, 12, 0))]


def test_a_toilet_trip_around_the_deadline_does_not_count_as_up() -> None:
    plan = CarePlan(usual_wake="07:30", wake_deadline_min=90)
    eng = engine(plan, register_at=ams(2026, 1, 13, 20, 0))
    trip = ams(2026, 1, 14, 8, 55)
    seq = _night(14) + [
        occ(trip, "bed", "vacant"),
        motion(trip + MIN, "toilet"),
        occ(trip + 10 * MIN, "bed", "occupied"),
    ]
    seq += keepalive(ams(2026, 1, 14, 9, 0), ams(2026, 1, 14, 12, 0))
    out = feed(eng, seq, until=ams(2026, 1, 14, 12, 0))
    (nu,) = [d for d in out if d.rule is Rule.NOT_UP]
    assert nu.raised_at == trip + timedelta(minutes=20, seconds=1)


def test_not_up_deadline_is_on_local_time_after_the_spring_change() -> None:
    plan = CarePlan(usual_wake="07:30", wake_deadline_min=90)
    eng = engine(plan, register_at=ams(2026, 3, 28, 20, 0))
    t = ams(2026, 3, 28, 22, 30)
    seq = [motion(t, "bedroom"), occ(t + MIN, "bed", "occupied")]
    seq += keepalive(ams(2026, 3, 29, 0, 0), ams(2026, 3, 29, 12, 0))
    (nu,) = [d for d in feed(eng, seq, until=ams(2026, 3, 29, 12, 0)) if d.rule is Rule.NOT_UP]
    assert nu.raised_at == ams(2026, 3, 29, 9, 0)  # 07:00 UTC in summer time


# --- not eating -------------------------------------------------------------------------


def _day_at_home(fridge_opens: int) -> list:  # type: ignore[type-arg]
    seq = []
    for i in range(12):
        t = ams(2026, 1, 14, 8 + i, 0)
        seq.append(motion(t, "living_room"))
        seq.append(motion(t + 5 * MIN, "hallway"))
    for i in range(fridge_opens):
        t = ams(2026, 1, 14, 9 + 3 * i, 10)
        seq += [door(t, "fridge", "open"), door(t + MIN, "fridge", "closed")]
    return sorted(seq, key=lambda e: e.ts)


def _with_heartbeats(seq: list) -> list:  # type: ignore[type-arg]
    beats = keepalive(ams(2026, 1, 14, 0, 0), ams(2026, 1, 14, 21, 0), timedelta(minutes=10))
    return sorted(seq + beats, key=lambda e: e.ts)


def test_a_day_at_home_without_the_fridge_raises_not_eating_at_the_meal_check() -> None:
    eng = engine(register_at=ams(2026, 1, 14, 0, 0))
    out = feed(eng, _with_heartbeats(_day_at_home(0)), until=ams(2026, 1, 14, 21, 0))
    (ne,) = [d for d in out if d.rule is Rule.NOT_EATING]
    assert ne.raised_at == ams(2026, 1, 14, 19, 30)


def test_regular_fridge_use_is_no_not_eating() -> None:
    eng = engine(register_at=ams(2026, 1, 14, 0, 0))
    seq = _with_heartbeats(_day_at_home(3))
    assert Rule.NOT_EATING not in [d.rule for d in feed(eng, seq, until=ams(2026, 1, 14, 21, 0))]


def test_no_verdict_on_eating_while_the_fridge_contact_was_offline() -> None:
    eng = engine(register_at=ams(2026, 1, 14, 0, 0))
    seq = _with_heartbeats(
        [status(ams(2026, 1, 14, 7, 0), "dor-fridge", "offline"), *_day_at_home(0)]
    )
    assert Rule.NOT_EATING not in [d.rule for d in feed(eng, seq, until=ams(2026, 1, 14, 21, 0))]


# --- missed dose ------------------------------------------------------------------------


def test_dispenser_missed_report_raises_missed_dose_after_the_late_grace() -> None:
    sched = ams(2026, 1, 14, 8, 0)
    eng = engine(CarePlan(dose_late_grace_min=3))
    seq = [
        dose(sched, "dose.due", sched),
        dose(sched + 45 * MIN, "dose.missed", sched, window_min=45),
    ]
    assert Rule.MISSED_DOSE not in rules(feed(eng, seq, until=sched + 47 * MIN))
    (md,) = [d for d in eng.advance(sched + 48 * MIN) if d.rule is Rule.MISSED_DOSE]
    assert md.raised_at == sched + 48 * MIN
    assert md.severity is Severity.HIGH
    assert md.subject is not None
    assert md.subject.startswith("d0800@")
    assert md.detail["misses_in_row"] == 1


def test_a_pouch_taken_within_the_late_grace_is_no_missed_dose() -> None:
    sched = ams(2026, 1, 14, 8, 0)
    eng = engine(CarePlan(dose_late_grace_min=3))
    seq = [
        dose(sched, "dose.due", sched),
        dose(sched + 45 * MIN, "dose.missed", sched, window_min=45),
        dose(sched + 47 * MIN, "dose.taken", sched, taken_at=(sched + 47 * MIN).isoformat()),
    ]
    assert Rule.MISSED_DOSE not in rules(feed(eng, seq, until=sched + timedelta(hours=3)))


def test_misses_in_row_repeat_into_one_alert_and_become_critical() -> None:
    d1 = ams(2026, 1, 14, 8, 0)
    d2 = ams(2026, 1, 14, 13, 0)
    d3 = ams(2026, 1, 14, 18, 0)
    d4 = ams(2026, 1, 15, 8, 0)
    eng = engine(CarePlan(dose_late_grace_min=0))
    seq = [
        dose(d1 + 45 * MIN, "dose.missed", d1, window_min=45),
        dose(d2 + 45 * MIN, "dose.missed", d2, "d1300", window_min=45),
        dose(d3 + 5 * MIN, "dose.taken", d3, "d1800", taken_at=(d3 + 5 * MIN).isoformat()),
        dose(d4 + 45 * MIN, "dose.missed", d4, window_min=45),
    ]
    out = [d for d in feed(eng, seq, until=d4 + timedelta(hours=1)) if d.rule is Rule.MISSED_DOSE]
    # Every missed moment is a decision (recall); the same (client, rule) while the first
    # alert is open is a repeat in the lifecycle, and the second in a row is critical.
    assert [(d.detail["misses_in_row"], d.severity) for d in out] == [
        (1, Severity.HIGH),
        (2, Severity.CRITICAL),
        (1, Severity.HIGH),
    ]
    assert {d.client_id for d in out} == {out[0].client_id}


def test_silent_dispenser_after_due_raises_missed_dose_after_window_and_grace() -> None:
    sched = ams(2026, 1, 14, 8, 0)
    eng = engine(CarePlan(dose_window_min=45, dose_grace_min=5))
    beats = [
        event(sched + k * 5 * MIN, "dsp-1", "heartbeat", {"uptime_s": 9}) for k in range(1, 24)
    ]
    out = feed(eng, [dose(sched, "dose.due", sched), *beats], until=sched + timedelta(hours=2))
    (md,) = [d for d in out if d.rule is Rule.MISSED_DOSE]
    assert md.raised_at == sched + 50 * MIN
    assert md.detail["reason"] == "no report"


def test_disconnected_dispenser_gets_time_to_deliver_its_queued_report() -> None:
    sched = ams(2026, 1, 14, 8, 0)
    eng = engine(CarePlan(dose_window_min=45, dose_grace_min=5))
    seq = [
        dose(sched, "dose.due", sched),
        status(sched + 40 * MIN, "dsp-1", "offline"),
        status(sched + 60 * MIN, "dsp-1", "online"),
        dose(sched + 10 * MIN, "dose.taken", sched, taken_at=(sched + 10 * MIN).isoformat()),
    ]
    assert Rule.MISSED_DOSE not in [d.rule for d in feed(eng, seq, until=sched + 70 * MIN)]


def test_taken_dose_is_no_alert_and_the_same_dose_id_tomorrow_is_a_new_moment() -> None:
    d1 = ams(2026, 1, 14, 8, 0)
    d2 = d1 + timedelta(days=1)
    eng = engine()
    seq = [
        dose(d1, "dose.due", d1),
        dose(d1 + 5 * MIN, "dose.taken", d1, taken_at=(d1 + 5 * MIN).isoformat()),
        dose(d2, "dose.due", d2),
        dose(d2 + 45 * MIN, "dose.missed", d2, window_min=45),
        dose(d2 + 46 * MIN, "dose.missed", d2, window_min=45),
    ]
    out = [d for d in feed(eng, seq, until=d2 + timedelta(hours=3)) if d.rule is Rule.MISSED_DOSE]
    assert [d.raised_at for d in out] == [d2 + 48 * MIN]


# --- devices ----------------------------------------------------------------------------


def test_last_will_not_followed_by_online_raises_device_offline() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine()
    out = feed(
        eng,
        [status(t, "dsp-1", "online"), status(t + MIN, "dsp-1", "offline")],
        until=t + timedelta(hours=1),
    )
    (off,) = [d for d in out if d.rule is Rule.DEVICE_OFFLINE]
    assert off.subject == "dsp-1"
    assert off.raised_at == t + MIN + timedelta(minutes=25)
    assert off.severity is Severity.HIGH


def test_network_blip_that_reconnects_is_no_alert() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine()
    seq = [
        status(t, "dsp-1", "online"),
        status(t + MIN, "dsp-1", "offline"),
        status(t + 10 * MIN, "dsp-1", "online"),
        *[event(t + k * 5 * MIN, "dsp-1", "heartbeat", {"uptime_s": 5}) for k in range(3, 8)],
    ]
    assert Rule.DEVICE_OFFLINE not in [d.rule for d in feed(eng, seq, until=t + 40 * MIN)]


def test_silent_device_alerts_after_its_kinds_timeout_plus_grace() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine()
    out = feed(
        eng, [event(t, "mot-toilet", "heartbeat", {"uptime_s": 1})], until=t + timedelta(hours=5)
    )
    (off,) = [d for d in out if d.rule is Rule.DEVICE_OFFLINE]
    assert off.raised_at == t + timedelta(hours=3, minutes=15)  # battery kind: 3 h + 15 min


def test_a_home_outage_is_one_alert_not_one_per_device() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine()
    seq = [status(t, d, "online") for d in ("dsp-1", "mot-toilet", "mot-kitchen")]
    seq += [status(t + MIN, d, "offline") for d in ("dsp-1", "mot-toilet", "mot-kitchen")]
    out = [d for d in feed(eng, seq, until=t + timedelta(hours=1)) if d.rule is Rule.DEVICE_OFFLINE]
    assert len(out) == 1


def test_battery_low_once_per_episode() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine()
    levels = [40, 18, 15, 10, 100, 19]
    seq = [
        event(t + k * timedelta(hours=1), "mot-toilet", "battery", {"level_pct": lv})
        for k, lv in enumerate(levels)
    ]
    out = [d for d in feed(eng, seq) if d.rule is Rule.BATTERY_LOW]
    assert [d.detail["level_pct"] for d in out] == [18, 19]


def test_switched_off_rule_raises_nothing() -> None:
    sched = ams(2026, 1, 14, 8, 0)
    eng = engine(CarePlan(rules=RuleSwitches(missed_dose=False)))
    assert feed(eng, [dose(sched + 45 * MIN, "dose.missed", sched, window_min=45)]) == []


def test_a_hallway_clock_running_ahead_does_not_hide_the_client_going_back_to_bed() -> None:
    """Arrival order decides where the client is; a skewed timestamp must not."""
    t = ams(2026, 1, 14, 3, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        *keepalive(t - timedelta(minutes=50), t - MIN, timedelta(minutes=10)),
        occ(t, "bed", "vacant"),
        motion(t + 5 * MIN, "toilet"),
        motion(t + 8 * MIN + timedelta(seconds=70), "hallway"),  # its clock is 70 s ahead
        motion(t + 8 * MIN + timedelta(seconds=5), "bedroom"),
        occ(t + 8 * MIN + timedelta(seconds=50), "bed", "occupied"),
        *keepalive(t + 10 * MIN, t + timedelta(hours=2), timedelta(minutes=10)),
    ]
    assert Rule.FALL not in [d.rule for d in feed(eng, seq, until=t + timedelta(hours=2))]


def test_return_home_then_a_fall_in_the_hallway_is_detected() -> None:
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        door(t, "front_door", "open"),
        motion(t + timedelta(seconds=3), "hallway"),
        door(t + timedelta(seconds=8), "front_door", "closed"),
    ]
    out = feed(eng, seq, until=t + timedelta(hours=1))
    assert Rule.FALL in [d.rule for d in out]


# --- faults: reordered, lost and delayed messages ---------------------------------------


def test_one_reordered_sign_just_after_sitting_down_does_not_undo_the_rest() -> None:
    t = ams(2026, 1, 14, 20, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        motion(t, "kitchen"),
        motion(t + MIN, "living_room"),
        occ(t + MIN - timedelta(seconds=40), "chair", "occupied"),  # chair clock behind
        motion(t + MIN - timedelta(seconds=10), "kitchen"),  # reordered: arrives last
    ]
    assert Rule.FALL not in rules(feed(eng, seq, until=t + timedelta(hours=2)))


def test_two_signs_elsewhere_after_sitting_down_still_count_as_up_and_about() -> None:
    t = ams(2026, 1, 14, 20, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        occ(t, "chair", "occupied"),
        motion(t + MIN, "hallway"),  # the 'vacant' was lost
        motion(t + 2 * MIN, "toilet"),
    ]
    (fall,) = [d for d in feed(eng, seq, until=t + timedelta(hours=1)) if d.rule is Rule.FALL]
    assert fall.detail["last_place"] == "toilet"


def test_a_dose_taken_report_after_the_door_is_no_sign_the_client_stayed_in() -> None:
    t = ams(2026, 1, 14, 11, 30)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        motion(t, "hallway"),
        door(t + MIN, "front_door", "open"),
        door(t + MIN + timedelta(seconds=5), "front_door", "closed"),
        # the pouch was fetched on the way out; the dispenser reports it 10-30 s later
        dose(t + MIN + timedelta(seconds=20), "dose.taken", t, "d1130"),
    ]
    assert Rule.FALL not in rules(feed(eng, seq, until=t + timedelta(hours=2)))


def test_a_closed_door_whose_open_was_lost_still_means_the_client_may_have_left() -> None:
    t = ams(2026, 1, 14, 19, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [motion(t, "hallway"), door(t + MIN, "front_door", "closed")]
    assert Rule.FALL not in rules(feed(eng, seq, until=t + timedelta(hours=2)))


def test_a_closed_door_whose_open_was_lost_at_night_is_a_night_exit() -> None:
    t = ams(2026, 1, 14, 2, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [motion(t, "hallway"), door(t + MIN, "front_door", "closed")]
    assert rules(feed(eng, seq, until=t + 30 * MIN)).count(Rule.NIGHT_EXIT) == 1


def test_a_dead_bed_sensor_under_a_sleeping_client_is_device_offline_not_a_fall() -> None:
    t = ams(2026, 1, 14, 22, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        motion(t, "bedroom"),
        occ(t + MIN, "bed", "occupied"),
        status(t + timedelta(hours=2), "occ-bed", "offline"),  # battery died in the night
    ]
    out = feed(eng, seq, until=t + timedelta(hours=5))
    assert Rule.FALL not in rules(out)
    assert Rule.DEVICE_OFFLINE in rules(out)


def test_a_motion_sensor_that_missed_two_heartbeats_is_no_evidence_of_stillness() -> None:
    t = ams(2026, 1, 14, 10, 0)
    eng = engine(register_at=t - timedelta(minutes=150))
    # Only the toilet PIR and the door have spoken since; the others went quiet without a
    # Last Will (and before their offline timeout). Their silence must not become a fall.
    seq = [
        event(t - timedelta(minutes=5), "dor-front", "heartbeat", {"uptime_s": 9}),
        motion(t, "toilet"),
    ]
    assert Rule.FALL not in rules(feed(eng, seq, until=t + timedelta(hours=1)))


def test_an_unreadable_bed_message_makes_the_bed_unknown_not_a_fall_in_the_bedroom() -> None:
    t = ams(2026, 1, 14, 22, 0)
    head = [occ(t - MIN, "bed", "vacant"), motion(t, "hallway"), motion(t + MIN, "bedroom")]
    eng = engine(register_at=t - 2 * MIN)
    lost = [
        *head,
        status(t + 2 * MIN, "occ-bed", "unreadable"),  # the 'occupied' was garbled
        motion(t + 50 * MIN, "bedroom"),  # turning over in bed
    ]
    assert Rule.FALL not in rules(feed(eng, lost, until=t + 2 * 60 * MIN))
    # Without the garbled message the same stillness in the bedroom is a possible fall.
    eng2 = engine(register_at=t - 2 * MIN)
    assert Rule.FALL in rules(feed(eng2, head, until=t + timedelta(hours=1)))
    # The sensor's next readable event makes the bed count again.
    eng.process(occ(t + 2 * 60 * MIN, "bed", "vacant"))
    client = eng.client("c0001")
    assert client is not None
    assert not any(d.unreadable for d in client.devices.values())


def test_an_unreadable_bed_message_under_a_sleeping_client_is_no_fall() -> None:
    t = ams(2026, 1, 14, 21, 0)
    eng = engine(register_at=t - 2 * MIN)
    seq = [
        motion(t, "bedroom"),
        occ(t + MIN, "bed", "occupied"),
        status(t + 90 * MIN, "occ-bed", "unreadable"),  # e.g. a garbled battery report
    ]
    assert Rule.FALL not in rules(feed(eng, seq, until=t + 3 * 60 * MIN))


@pytest.mark.parametrize("skew", [timedelta(minutes=-5), timedelta(0), timedelta(minutes=7)])
def test_an_unreadable_message_counts_at_the_homes_event_time_whatever_its_stamp(
    skew: timedelta,
) -> None:
    """Replay stamps it with the log's time, live with the receive time: same result."""
    t = ams(2026, 1, 14, 22, 0)
    eng = engine()
    assert eng.process(status(t, "occ-bed", "unreadable")) == []
    assert eng.client("c0001") is None  # before the home's first event it says nothing
    eng.process(motion(t, "bedroom"))
    eng.process(status(t + skew, "occ-bed", "unreadable"))
    client = eng.client("c0001")
    assert client is not None
    bed = client.devices["occ-bed"]
    assert bed.unreadable
    assert bed.last_seen == t.astimezone(UTC)


@pytest.mark.parametrize(
    ("hour", "door_dead", "expected"),
    [(2, True, True), (2, False, False), (14, True, False)],
)
def test_at_night_with_the_door_contact_dead_silence_after_the_hallway_is_an_exit(
    hour: int, door_dead: bool, expected: bool
) -> None:
    """No door event can tell: the last sign in the hallway and nothing since (5 min)."""
    t = ams(2026, 1, 14, hour, 0)
    eng = engine(register_at=t - timedelta(hours=2))
    seq: list[EngineEvent | StatusChange] = [*keepalive(t - timedelta(hours=2), t, 30 * MIN)]
    if door_dead:
        seq.append(status(t, "dor-front", "offline"))  # its battery died
    seq += [
        occ(t, "bed", "vacant"),
        motion(t + MIN, "bedroom"),
        motion(t + 2 * MIN, "hallway"),
        motion(t + 3 * MIN, "hallway"),
    ]
    out = [d for d in feed(eng, seq, until=t + 40 * MIN) if d.rule is Rule.NIGHT_EXIT]
    assert bool(out) is expected
    if expected:
        (exit_,) = out
        assert exit_.raised_at == t + 8 * MIN
        assert exit_.detail["reason"] == "door contact offline"


def test_a_dead_door_contact_and_the_client_back_from_the_hallway_is_no_exit() -> None:
    t = ams(2026, 1, 14, 2, 0)
    eng = engine(register_at=t - timedelta(hours=2))
    seq: list[EngineEvent | StatusChange] = [
        *keepalive(t - timedelta(hours=2), t, 30 * MIN),
        status(t, "dor-front", "offline"),
        occ(t, "bed", "vacant"),
        motion(t + 2 * MIN, "hallway"),
        motion(t + 6 * MIN, "toilet"),  # 4 min: within the 5 min
        motion(t + 9 * MIN, "bedroom"),
        occ(t + 10 * MIN, "bed", "occupied"),
    ]
    assert Rule.NIGHT_EXIT not in rules(feed(eng, seq, until=t + 60 * MIN))


def test_a_bed_sensor_back_from_an_outage_does_not_bring_back_its_stale_vacant() -> None:
    """It died in the evening (vacant), the client went to bed unseen by it, it came back
    at night with a new battery: it reports no state until the client gets up, and lying
    still in the bedroom meanwhile is sleep, not a fall."""
    t = ams(2026, 1, 14, 18, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    beats = [
        e
        for e in keepalive(t, t + timedelta(hours=12), 30 * MIN)
        if e.device_id != "occ-bed" or e.ts >= t + timedelta(hours=10)  # back at 04:00
    ]
    seq: list[EngineEvent | StatusChange] = [
        occ(t, "bed", "vacant"),
        status(t, "occ-bed", "offline"),  # its battery died
        motion(t + MIN, "living_room"),
        occ(t + 2 * MIN, "chair", "occupied"),
        occ(t + timedelta(hours=4), "chair", "vacant"),
        motion(t + timedelta(hours=4, minutes=1), "bedroom"),  # 22:01, to bed
        motion(t + timedelta(hours=10, minutes=5), "bedroom"),  # 04:05, turning over
    ]
    items = sorted([*seq, *beats], key=lambda x: x.ts)
    out = feed(eng, items, until=t + timedelta(hours=12))
    assert Rule.FALL.value not in rules(out)
    client = eng.client("c0001")
    assert client is not None
    assert client.devices["occ-bed"].unreadable
    eng.process(occ(t + timedelta(hours=13), "bed", "vacant"))  # up: it speaks again
    assert not client.devices["occ-bed"].unreadable


# --- a companion leaves: the door and silence after it is not the client going out ------

SEC = timedelta(seconds=1)


def _visit(t: datetime, *, kitchen: bool = True) -> list[EngineEvent | StatusChange]:
    """A visitor comes in at `t`; the client sits in the chair while the visitor makes
    coffee (kitchen, fridge) and gets up at t + 40 min to see the visitor out."""
    seq: list[EngineEvent | StatusChange] = [
        motion(t, "hallway"),
        door(t + 30 * SEC, "front_door", "open"),
        door(t + 38 * SEC, "front_door", "closed"),
        motion(t + MIN + 2 * SEC, "living_room"),
        occ(t + MIN + 6 * SEC, "chair", "occupied"),
        motion(t + 20 * MIN, "living_room"),
    ]
    if kitchen:
        seq += [
            motion(t + 8 * MIN, "kitchen"),
            door(t + 8 * MIN + 5 * SEC, "fridge", "open"),
            door(t + 8 * MIN + 20 * SEC, "fridge", "closed"),
            motion(t + 14 * MIN, "kitchen"),
        ]
    else:
        seq.append(motion(t + 8 * MIN, "living_room"))  # the visitor stays in the room
    seq += [
        motion(t + 38 * MIN, "living_room"),
        motion(t + 40 * MIN - 3 * SEC, "hallway"),  # on the way: stamped before the vacant
        occ(t + 40 * MIN, "chair", "vacant"),
        motion(t + 40 * MIN + 2 * SEC, "hallway"),
        door(t + 41 * MIN, "front_door", "open"),  # the visitor leaves
        door(t + 41 * MIN + 7 * SEC, "front_door", "closed"),
    ]
    return sorted(seq, key=lambda x: x.ts)


def _falls(out: list[AlertDecision]) -> list[AlertDecision]:
    return [d for d in out if d.rule is Rule.FALL]


def test_silence_after_a_visitor_left_is_a_fall_not_the_client_gone_out() -> None:
    """Someone moved in the kitchen while the client sat in the chair: two people. The
    door after the client got up is the visitor leaving; nothing moves after it."""
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [*_visit(t), *keepalive(t, t + timedelta(hours=2))]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    (fall,) = _falls(out)
    left = t + 41 * MIN
    assert left < fall.raised_at <= left + 7 * SEC + 25 * MIN
    assert datetime.fromisoformat(str(fall.detail["companion_left_at"])) == left


def test_the_client_going_out_alone_after_sitting_in_the_chair_is_no_fall() -> None:
    """Without anyone else seen, the same door and silence is the client gone out; the
    client's own hallway sign, stamped just before the 'vacant', is no second person."""
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [*_visit(t, kitchen=False), *keepalive(t, t + timedelta(hours=2))]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    assert _falls(out) == []


def test_the_client_leaving_just_after_the_visitor_is_no_fall() -> None:
    """The visitor's door, then the client's own: the second door is the client going out."""
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        *_visit(t),
        motion(t + 41 * MIN + 50 * SEC, "hallway"),
        door(t + 42 * MIN + 30 * SEC, "front_door", "open"),
        door(t + 42 * MIN + 38 * SEC, "front_door", "closed"),
        *keepalive(t, t + timedelta(hours=2)),
    ]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    assert _falls(out) == []


def test_a_walk_about_with_the_chairs_vacant_lost_is_one_person() -> None:
    """The 'vacant' was lost: the client's kitchen visit looks like someone else while the
    chair seems occupied, but the chair's next report is 'occupied' (sitting down again),
    not 'vacant': no second person, so the later door is the client going out."""
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq: list[EngineEvent | StatusChange] = [
        motion(t, "living_room"),
        occ(t + 10 * SEC, "chair", "occupied"),
        motion(t + 30 * MIN, "kitchen"),  # got up: the 'vacant' never arrived
        motion(t + 32 * MIN, "living_room"),
        occ(t + 32 * MIN + 5 * SEC, "chair", "occupied"),
        occ(t + 50 * MIN, "chair", "vacant"),
        motion(t + 50 * MIN + 2 * SEC, "hallway"),
        door(t + 51 * MIN, "front_door", "open"),
        door(t + 51 * MIN + 7 * SEC, "front_door", "closed"),
        *keepalive(t, t + timedelta(hours=2)),
    ]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    assert _falls(out) == []


def test_an_unreadable_chair_message_drops_the_evidence_of_a_second_person() -> None:
    """The garbled message may have been the 'vacant' before the client's own kitchen visit."""
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq: list[EngineEvent | StatusChange] = [
        motion(t, "living_room"),
        occ(t + 10 * SEC, "chair", "occupied"),
        motion(t + 30 * MIN, "kitchen"),
        StatusChange(HOME, CLIENT, "occ-chair", Kind.OCCUPANCY, "unreadable", t + 30 * MIN),
        occ(t + 50 * MIN, "chair", "vacant"),
        motion(t + 50 * MIN + 2 * SEC, "hallway"),
        door(t + 51 * MIN, "front_door", "open"),
        door(t + 51 * MIN + 7 * SEC, "front_door", "closed"),
        *keepalive(t, t + timedelta(hours=2)),
    ]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    assert _falls(out) == []


def test_a_visitor_leaving_and_the_client_seen_again_is_neither_fall_nor_out() -> None:
    t = ams(2026, 1, 14, 15, 0)
    eng = engine(register_at=t - timedelta(hours=1))
    seq = [
        *_visit(t),
        motion(t + 42 * MIN, "hallway"),
        motion(t + 43 * MIN, "living_room"),
        occ(t + 43 * MIN + 5 * SEC, "chair", "occupied"),
        *keepalive(t, t + timedelta(hours=2)),
    ]
    out = feed(eng, sorted(seq, key=lambda x: x.ts), until=t + timedelta(hours=2))
    assert _falls(out) == []
    client = eng.client(CLIENT)
    assert client is not None
    assert not client.maybe_out()


# --- device offline: back after the confirmation delay, with the home silent meanwhile ---


@pytest.mark.parametrize(("back_min", "live"), [(28, False), (28, True), (20, False), (20, True)])
def test_a_device_back_after_the_confirmation_delay_alerts_live_and_in_replay(
    back_min: int, live: bool
) -> None:
    """Nothing else in the home spoke during the outage, so no event moved its event time
    past the 25-min confirmation: live mode's wall clock raises the alert then; a replay
    must raise the same one when the 'online' (received after it) arrives."""
    t = ams(2026, 1, 14, 3, 0)
    eng = engine(register_at=t)
    beat = event(t, "dsp-1", "heartbeat", {"uptime_s": 100})
    out = feed(eng, [beat, motion(t, "kitchen"), status(t + 75 * SEC, "dsp-1", "offline")])
    if live:
        for k in range(1, back_min):  # the scheduler's ticks
            out += eng.advance(t + k * MIN)
    out += eng.process(status(t + back_min * MIN, "dsp-1", "online"))
    offline = [d for d in out if d.rule is Rule.DEVICE_OFFLINE]
    if back_min < 25:
        assert offline == []
    else:
        (alert,) = offline
        assert alert.subject == "dsp-1"
        assert alert.raised_at == t + 25 * MIN  # the Last Will counts at the home's event time
