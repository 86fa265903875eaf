"""The naive reference rule set: fixed thresholds, no baseline, one alarm per trigger."""

from __future__ import annotations

from datetime import timedelta

from rules_helpers import CLIENT, HOME, ams, door, dose, event, motion, occ, status

from hub.rules.model import AlertDecision, EngineEvent, Rule, StatusChange
from hub.rules.naive import SILENT_AFTER, NaiveEngine

MIN = timedelta(minutes=1)


def _run(
    items: list[EngineEvent | StatusChange], until: object, **kw: object
) -> list[AlertDecision]:
    eng = NaiveEngine(**kw)  # type: ignore[arg-type]
    out: list[AlertDecision] = []
    for it in items:
        out.extend(eng.process(it))
    out.extend(eng.advance(until))  # type: ignore[arg-type]
    return out


def test_every_bed_exit_at_night_is_an_alarm() -> None:
    t = ams(2026, 1, 14, 1, 0)
    seq = [
        occ(t, "bed", "vacant"),
        occ(t + 4 * MIN, "bed", "occupied"),  # a toilet trip
        occ(t + 2 * 60 * MIN, "bed", "vacant"),
        occ(t + 2 * 60 * MIN + 3 * MIN, "bed", "occupied"),
    ]
    out = _run(seq, t + 3 * 60 * MIN)
    assert [(d.rule, d.raised_at) for d in out] == [
        (Rule.FALL, t),
        (Rule.FALL, t + 2 * 60 * MIN),
    ]
    assert (out[0].home_id, out[0].client_id) == (HOME, CLIENT)


def test_the_delayed_bed_exit_variant_waits_for_the_client_to_come_back() -> None:
    t = ams(2026, 1, 14, 1, 0)
    seq = [occ(t, "bed", "vacant"), occ(t + 4 * MIN, "bed", "occupied")]
    assert _run(seq, t + 60 * MIN, bed_exit_after=timedelta(minutes=15)) == []


def test_every_door_opening_at_night_is_an_alarm() -> None:
    t = ams(2026, 1, 14, 2, 0)
    seq = [
        door(t, "front_door", "open"),
        motion(t + MIN, "hallway"),
        door(t + 9 * MIN, "front_door", "open"),
    ]
    assert [d.rule for d in _run(seq, t + 20 * MIN)] == [Rule.NIGHT_EXIT, Rule.NIGHT_EXIT]


def test_one_alarm_per_missed_dose_report_and_none_for_a_late_but_taken_dose() -> None:
    d1 = ams(2026, 1, 14, 8, 0)
    d2 = ams(2026, 1, 14, 13, 0)
    seq = [
        dose(d1 + 15 * MIN, "dose.reminder", d1, attempt=1),
        dose(d1 + 30 * MIN, "dose.taken", d1),
        dose(d2 + 15 * MIN, "dose.reminder", d2, "d1300", attempt=1),
        dose(d2 + 45 * MIN, "dose.missed", d2, "d1300", window_min=45),
    ]
    out = [d for d in _run(seq, d2 + 60 * MIN) if d.rule is Rule.MISSED_DOSE]
    assert [d.raised_at for d in out] == [d2 + 45 * MIN]
    first = _run(seq, d2 + 60 * MIN, dose_alarm="reminder")
    assert [d.raised_at for d in first if d.rule is Rule.MISSED_DOSE] == [
        d1 + 15 * MIN,
        d2 + 15 * MIN,
    ]


def test_silence_uses_one_timeout_for_every_device_class_and_every_last_will_alarms() -> None:
    t = ams(2026, 1, 14, 10, 0)
    seq = [
        event(t, "dsp-1", "heartbeat", {"uptime_s": 5}),  # mains: heartbeat every 5 min
        event(t, "mot-bedroom", "heartbeat", {"uptime_s": 5}),
        status(t + 10 * MIN, "mot-bedroom", "offline"),
        status(t + 12 * MIN, "mot-bedroom", "online"),  # a blip: alarmed all the same
    ]
    out = _run(seq, t + SILENT_AFTER)
    assert [(d.rule, d.subject, d.raised_at) for d in out] == [
        (Rule.DEVICE_OFFLINE, "mot-bedroom", t + 10 * MIN),
        (Rule.DEVICE_OFFLINE, "dsp-1", t + SILENT_AFTER),
    ]
