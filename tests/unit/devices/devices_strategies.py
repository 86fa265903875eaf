"""Hypothesis strategies for the device contract: ids, names and a valid payload per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from pydantic import BaseModel

from devices import payloads as p
from devices.envelope import encode
from devices.kinds import COMMAND_SCHEMAS, EVENT_SCHEMAS, KINDS
from devices.topics import DEVICE_ID_RE, NAME_RE

device_ids = st.from_regex(DEVICE_ID_RE, fullmatch=True)
names = st.from_regex(NAME_RE, fullmatch=True)
event_ids = st.from_regex(r"[A-Za-z0-9_.:-]{8,64}", fullmatch=True)
ref_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
seqs = st.integers(min_value=0, max_value=2**63 - 1)

# A spread of offsets: UTC, the care schedules' zone (DST) and an odd half-hour one.
_ZONES = [UTC, ZoneInfo("Europe/Amsterdam"), timezone(timedelta(hours=-9, minutes=-30))]
aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - bounds of a strategy that adds zones
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from(_ZONES),
)
clock_times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
weekday_lists = st.lists(st.integers(1, 7), max_size=7)
texts = st.text(max_size=200)

PAYLOADS: dict[type[BaseModel], st.SearchStrategy[Any]] = {
    p.Motion: st.builds(p.Motion, room=st.sampled_from(p.Room)),
    p.Contact: st.builds(
        p.Contact, door=st.sampled_from(p.Door), state=st.sampled_from(["open", "closed"])
    ),
    p.Occupancy: st.builds(
        p.Occupancy, place=st.sampled_from(p.Place), state=st.sampled_from(["occupied", "vacant"])
    ),
    p.DoseDue: st.builds(p.DoseDue, dose_id=ref_ids, scheduled_for=aware_datetimes),
    p.DoseReminder: st.builds(
        p.DoseReminder,
        dose_id=ref_ids,
        scheduled_for=aware_datetimes,
        attempt=st.integers(1, 100),
    ),
    p.DoseTaken: st.builds(
        p.DoseTaken, dose_id=ref_ids, scheduled_for=aware_datetimes, taken_at=aware_datetimes
    ),
    p.DoseMissed: st.builds(
        p.DoseMissed,
        dose_id=ref_ids,
        scheduled_for=aware_datetimes,
        window_min=st.integers(1, 24 * 60),
    ),
    p.RefillLow: st.builds(p.RefillLow, doses_left=st.integers(0, 10_000)),
    p.MessageSpoken: st.builds(
        p.MessageSpoken,
        message_id=ref_ids,
        schedule_version=st.integers(min_value=0, max_value=2**40),
        scheduled_for=aware_datetimes,
        text=texts,
        question=st.booleans(),
    ),
    p.QuestionAnswered: st.builds(
        p.QuestionAnswered,
        message_id=ref_ids,
        schedule_version=st.integers(min_value=0, max_value=2**40),
        scheduled_for=aware_datetimes,
        answer=st.sampled_from(p.Answer),
    ),
    p.Heartbeat: st.builds(
        p.Heartbeat,
        uptime_s=st.integers(min_value=0, max_value=2**40),
        rssi_dbm=st.none() | st.integers(-150, 0),
    ),
    p.Battery: st.builds(p.Battery, level_pct=st.integers(0, 100)),
    p.DosePlan: st.builds(
        p.DosePlan,
        version=st.integers(min_value=0, max_value=2**31),
        window_min=st.integers(5, 240),
        reminder_every_min=st.integers(1, 120),
        doses=st.lists(
            st.builds(
                p.PlannedDose,
                dose_id=ref_ids,
                time=clock_times,
                weekdays=weekday_lists,
                label=texts,
            ),
            max_size=5,
        ),
    ),
    p.RobotSchedule: st.builds(
        p.RobotSchedule,
        version=st.integers(min_value=0, max_value=2**31),
        messages=st.lists(
            st.builds(
                p.RobotMessage,
                message_id=ref_ids,
                text=st.text(min_size=1, max_size=200),
                at=clock_times,
                weekdays=st.none() | weekday_lists,
                on=st.none() | st.dates().map(lambda d: d.isoformat()),
                question=st.booleans(),
                repeat_if_unanswered_min=st.none() | st.integers(1, 240),
            ),
            max_size=5,
        ),
    ),
    p.Status: st.builds(p.Status, state=st.sampled_from(["online", "offline"])),
    p.Ack: st.builds(
        p.Ack,
        command=st.text(min_size=1, max_size=63),
        version=st.integers(min_value=0, max_value=2**31),
        ok=st.booleans(),
        error=st.none() | st.text(max_size=500),
    ),
}
"""A strategy of valid instances for every contract model (the tests check the coverage)."""

event_types = st.sampled_from(sorted(EVENT_SCHEMAS))
commands = st.sampled_from(sorted(COMMAND_SCHEMAS))


@st.composite
def event_bytes(
    draw: st.DrawFn, event_type: str | None = None
) -> tuple[str, str, BaseModel, bytes]:
    """A valid wire event: (event type, device id, its `data` model, the encoded payload)."""
    t = event_type if event_type is not None else draw(event_types)
    data = draw(PAYLOADS[EVENT_SCHEMAS[t]])
    device_id = draw(device_ids)
    raw = encode(
        id=draw(event_ids),
        device_id=device_id,
        ts=draw(aware_datetimes),
        seq=draw(seqs),
        type=t,
        data=data,
    )
    return t, device_id, data, raw


kinds_and_events = st.sampled_from(
    sorted((kind, t) for kind, spec in KINDS.items() for t in spec.events)
)
"""Every (kind, event type) pair the contract allows."""
