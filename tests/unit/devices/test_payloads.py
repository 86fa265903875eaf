"""One realistic wire example per payload type, and the values each schema refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from devices import payloads as p
from devices.envelope import InvalidPayload, decode
from devices.kinds import COMMAND_SCHEMAS, EVENT_SCHEMAS

# 30 March 2026, the morning after the clocks went forward: Amsterdam is at +02:00.
_T0 = "2026-03-30T08:00:00+02:00"


def _event(device_id: str, event_type: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": f"{device_id}:1042",
            "device_id": device_id,
            "ts": "2026-03-30T08:22:05+02:00",
            "seq": 1042,
            "type": event_type,
            "data": data,
        }
    ).encode()


def _data(raw: bytes) -> BaseModel:
    env = decode(raw)
    return EVENT_SCHEMAS[env.type].model_validate(env.data)


def test_motion_in_the_bathroom() -> None:
    data = _data(_event("mot-4f2a9c", "motion", {"room": "bathroom"}))
    assert data == p.Motion(room=p.Room.BATHROOM)


def test_front_door_opens() -> None:
    data = _data(_event("dor-4f2a9c", "contact", {"door": "front_door", "state": "open"}))
    assert data == p.Contact(door=p.Door.FRONT_DOOR, state="open")


def test_bed_becomes_vacant() -> None:
    data = _data(_event("occ-4f2a9c", "occupancy", {"place": "bed", "state": "vacant"}))
    assert data == p.Occupancy(place=p.Place.BED, state="vacant")


def test_dose_due_keeps_the_amsterdam_offset() -> None:
    data = _data(_event("dsp-4f2a9c", "dose.due", {"dose_id": "d-0800", "scheduled_for": _T0}))
    assert isinstance(data, p.DoseDue)
    assert data.scheduled_for.utcoffset() == timedelta(hours=2)
    assert data.scheduled_for == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_dose_reminder_counts_attempts() -> None:
    raw = _event(
        "dsp-4f2a9c", "dose.reminder", {"dose_id": "d-0800", "scheduled_for": _T0, "attempt": 2}
    )
    data = _data(raw)
    assert isinstance(data, p.DoseReminder)
    assert data.attempt == 2


def test_dose_taken_21_minutes_late() -> None:
    raw = _event(
        "dsp-4f2a9c",
        "dose.taken",
        {"dose_id": "d-0800", "scheduled_for": _T0, "taken_at": "2026-03-30T06:21:00Z"},
    )
    data = _data(raw)
    assert isinstance(data, p.DoseTaken)
    assert data.taken_at - data.scheduled_for == timedelta(minutes=21)


def test_dose_missed_after_the_window() -> None:
    raw = _event(
        "dsp-4f2a9c", "dose.missed", {"dose_id": "d-0800", "scheduled_for": _T0, "window_min": 45}
    )
    data = _data(raw)
    assert isinstance(data, p.DoseMissed)
    assert data.window_min == 45


def test_refill_low() -> None:
    assert _data(_event("dsp-4f2a9c", "refill.low", {"doses_left": 6})) == p.RefillLow(doses_left=6)


def test_message_spoken_defaults_to_no_question() -> None:
    raw = _event(
        "rbt-4f2a9c",
        "message.spoken",
        {
            "message_id": "m-koffie",
            "schedule_version": 12,
            "scheduled_for": "2026-03-30T10:30:00+02:00",
            "text": "Goedemorgen Ans, tijd voor koffie.",
        },
    )
    data = _data(raw)
    assert isinstance(data, p.MessageSpoken)
    assert data.question is False
    assert data.text == "Goedemorgen Ans, tijd voor koffie."


def test_question_answered_no_answer() -> None:
    raw = _event(
        "rbt-4f2a9c",
        "question.answered",
        {
            "message_id": "m-koffie",
            "schedule_version": 12,
            "scheduled_for": "2026-03-30T10:30:00+02:00",
            "answer": "no_answer",
        },
    )
    data = _data(raw)
    assert isinstance(data, p.QuestionAnswered)
    assert data.answer is p.Answer.NO_ANSWER


def test_heartbeat_with_and_without_signal_strength() -> None:
    with_rssi = _data(_event("dsp-4f2a9c", "heartbeat", {"uptime_s": 86400, "rssi_dbm": -67}))
    without = _data(_event("mot-4f2a9c", "heartbeat", {"uptime_s": 12}))
    assert with_rssi == p.Heartbeat(uptime_s=86400, rssi_dbm=-67)
    assert without == p.Heartbeat(uptime_s=12, rssi_dbm=None)


def test_battery_level() -> None:
    assert _data(_event("mot-4f2a9c", "battery", {"level_pct": 18})) == p.Battery(level_pct=18)


def test_every_event_type_has_an_example_here() -> None:
    tested = {
        "motion", "contact", "occupancy", "dose.due", "dose.reminder", "dose.taken",
        "dose.missed", "refill.low", "message.spoken", "question.answered", "heartbeat",
        "battery",
    }  # fmt: skip
    assert set(EVENT_SCHEMAS) == tested, "add a realistic example test for the new event type"


@pytest.mark.parametrize(
    ("event_type", "data", "where"),
    [
        ("motion", {"room": "attic"}, "room"),
        ("contact", {"door": "fridge", "state": "ajar"}, "state"),
        ("occupancy", {"place": "sofa", "state": "occupied"}, "place"),
        ("dose.due", {"dose_id": "d 0800", "scheduled_for": _T0}, "dose_id"),
        ("dose.due", {"dose_id": "d-0800", "scheduled_for": "2026-03-30T08:00:00"}, "scheduled"),
        # A valid aware datetime that overflows when the store converts it to UTC.
        ("dose.due", {"dose_id": "d", "scheduled_for": "0001-01-01T00:30:00+01:00"}, "UTC"),
        ("dose.reminder", {"dose_id": "d", "scheduled_for": _T0, "attempt": 0}, "attempt"),
        ("dose.missed", {"dose_id": "d", "scheduled_for": _T0, "window_min": 0}, "window_min"),
        ("refill.low", {"doses_left": -1}, "doses_left"),
        ("heartbeat", {"uptime_s": 5, "rssi_dbm": 3}, "rssi_dbm"),
        ("battery", {"level_pct": 100.5}, "level_pct"),
        ("battery", {}, "level_pct"),
    ],
)
def test_event_data_out_of_contract_is_refused(
    event_type: str, data: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidPayload, match=where):
        decode(_event("dev-4f2a9c", event_type, data))


# --- status, ack and commands (validated by the hub and devices, not via the envelope) ------


def test_status_online_and_last_will() -> None:
    assert p.Status.model_validate_json(b'{"state":"online"}').state == "online"
    assert p.Status.model_validate_json(b'{"state":"offline"}').state == "offline"
    with pytest.raises(ValidationError):
        p.Status.model_validate_json(b'{"state":"sleeping"}')


def test_ack_of_a_refused_plan() -> None:
    ack = p.Ack.model_validate_json(
        b'{"command":"dose_plan","version":7,"ok":false,"error":"dose 25:00 out of range"}'
    )
    assert (ack.command, ack.version, ack.ok) == ("dose_plan", 7, False)
    assert ack.error == "dose 25:00 out of range"


def test_dose_plan_defaults_to_every_day_and_the_standard_window() -> None:
    plan = p.DosePlan.model_validate_json(
        b'{"version":7,"doses":[{"dose_id":"ochtend","time":"08:00","label":"ontbijt"},'
        b'{"dose_id":"avond","time":"20:00","weekdays":[1,3,5]}]}'
    )
    assert COMMAND_SCHEMAS["dose_plan"] is p.DosePlan
    assert plan.window_min == 45
    assert plan.reminder_every_min == 15
    assert plan.doses[0].weekdays == [1, 2, 3, 4, 5, 6, 7]
    assert plan.doses[1].weekdays == [1, 3, 5]


def test_robot_schedule_with_a_daily_question_and_a_one_off() -> None:
    schedule = p.RobotSchedule.model_validate_json(
        json.dumps(
            {
                "version": 12,
                "messages": [
                    {
                        "message_id": "m-koffie",
                        "text": "Heeft u al koffie gedronken?",
                        "at": "10:30",
                        "question": True,
                        "repeat_if_unanswered_min": 15,
                    },
                    {
                        "message_id": "m-kapper",
                        "text": "Vanmiddag komt de kapper.",
                        "at": "11:00",
                        "on": "2026-04-02",
                    },
                ],
            }
        )
    )
    assert COMMAND_SCHEMAS["schedule"] is p.RobotSchedule
    daily, one_off = schedule.messages
    assert daily.question is True
    assert daily.weekdays is None
    assert daily.on is None
    assert one_off.on == "2026-04-02"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (p.DosePlan, {"version": 1, "doses": [{"dose_id": "a", "time": "24:00"}]}),
        (p.DosePlan, {"version": 1, "doses": [{"dose_id": "a", "time": "8:00"}]}),
        (p.DosePlan, {"version": 1, "doses": [{"dose_id": "a", "time": "08:00", "weekdays": [8]}]}),
        (p.DosePlan, {"version": 1, "window_min": 4, "doses": []}),
        (p.DosePlan, {"version": -1, "doses": []}),
        (p.RobotSchedule, {"version": 1, "messages": [{"message_id": "m", "text": "", "at": "9"}]}),
        (
            p.RobotSchedule,
            {
                "version": 1,
                "messages": [{"message_id": "m", "text": "x", "at": "09:00", "on": "2-4"}],
            },
        ),
        (p.Ack, {"command": "", "version": 1, "ok": True}),
        (p.Status, {"state": "online", "since": _T0}),
    ],
)
def test_command_status_and_ack_bodies_out_of_contract_are_refused(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(body))
