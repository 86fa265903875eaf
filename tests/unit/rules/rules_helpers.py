"""Hand-written event sequences for rule tests: one home, one client, named devices."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.rules.careplan import CarePlan
from hub.rules.engine import Engine
from hub.rules.localtime import CARE_TZ
from hub.rules.model import AlertDecision, EngineEvent, StatusChange

HOME = "h0001"
CLIENT = "c0001"
DEVICES: dict[str, tuple[Kind, str | None]] = {
    "mot-bedroom": (Kind.MOTION, "bedroom"),
    "mot-bathroom": (Kind.MOTION, "bathroom"),
    "mot-toilet": (Kind.MOTION, "toilet"),
    "mot-kitchen": (Kind.MOTION, "kitchen"),
    "mot-living": (Kind.MOTION, "living_room"),
    "mot-hallway": (Kind.MOTION, "hallway"),
    "dor-front": (Kind.DOOR, "front_door"),
    "dor-fridge": (Kind.DOOR, "fridge"),
    "occ-bed": (Kind.OCCUPANCY, "bed"),
    "occ-chair": (Kind.OCCUPANCY, "chair"),
    "dsp-1": (Kind.DISPENSER, None),
}
ROOM_DEVICE = {role: dev for dev, (_, role) in DEVICES.items() if role}
_ids = itertools.count()


def ams(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    """An Amsterdam wall-clock instant (first occurrence when ambiguous)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=CARE_TZ)


def event(ts: datetime, device_id: str, typ: str, data: dict[str, Any]) -> EngineEvent:
    """An engine event of one of the test home's devices."""
    kind = DEVICES[device_id][0]
    n = next(_ids)
    env = Envelope(id=f"evt-{n:08d}", device_id=device_id, ts=ts, seq=n, type=typ, data=data)
    return EngineEvent(HOME, CLIENT, device_id, kind, env)


def motion(ts: datetime, room: str) -> EngineEvent:
    """PIR motion in `room`."""
    return event(ts, ROOM_DEVICE[room], "motion", {"room": room})


def door(ts: datetime, which: str, state: str) -> EngineEvent:
    """A door contact."""
    return event(ts, ROOM_DEVICE[which], "contact", {"door": which, "state": state})


def occ(ts: datetime, place: str, state: str) -> EngineEvent:
    """Bed or chair occupancy."""
    return event(ts, ROOM_DEVICE[place], "occupancy", {"place": place, "state": state})


def dose(
    ts: datetime, typ: str, sched: datetime, dose_id: str = "d0800", **extra: Any
) -> EngineEvent:
    """A dispenser dose event."""
    data = {"dose_id": dose_id, "scheduled_for": sched.astimezone(UTC).isoformat(), **extra}
    return event(ts, "dsp-1", typ, data)


def status(ts: datetime, device_id: str, state: str) -> StatusChange:
    """A device's online/offline status."""
    return StatusChange(HOME, CLIENT, device_id, DEVICES[device_id][0], state, ts)  # type: ignore[arg-type]


def engine(plan: CarePlan | None = None, *, register_at: datetime | None = None) -> Engine:
    """An engine with the test client's plan; devices registered when `register_at` is given."""
    p = plan or CarePlan()
    eng = Engine(plan_for=lambda _c: p)
    if register_at is not None:
        for dev, (kind, role) in DEVICES.items():
            eng.register(
                home_id=HOME, client_id=CLIENT, device_id=dev, kind=kind, role=role, at=register_at
            )
    return eng


def feed(
    eng: Engine, items: list[EngineEvent | StatusChange], until: datetime | None = None
) -> list[AlertDecision]:
    """Process items in order, then advance to `until`; all decisions."""
    out: list[AlertDecision] = []
    for it in items:
        out.extend(eng.process(it))
    if until is not None:
        out.extend(eng.advance(until))
    return out


def rules(decisions: list[AlertDecision]) -> list[str]:
    """Rule names of decisions, in order."""
    return [d.rule.value for d in decisions]


def keepalive(
    start: datetime, end: datetime, every: timedelta = timedelta(minutes=30)
) -> list[EngineEvent]:
    """Heartbeats of every device so no device-offline alert muddles a test."""
    out = []
    t = start
    while t <= end:
        for dev, (_kind, _) in DEVICES.items():
            out.append(event(t, dev, "heartbeat", {"uptime_s": 100}))
        t += every
    return out
