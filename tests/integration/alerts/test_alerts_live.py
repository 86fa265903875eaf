"""The live wiring: ingest batches -> rules -> alerts, the scheduler tick, warm-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alerts_helpers import seed
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.envelope import Envelope
from devices.kinds import Kind
from hub.alerts.models import Alert
from hub.ingest.store import BatchResult, StatusChange, StoredEvent
from hub.rules.live import RulesHook
from hub.store.db import unit_of_work
from hub.store.models import Device, Event

NIGHT = datetime(2026, 1, 14, 1, 0, tzinfo=UTC)  # 02:00 in Amsterdam
MIN = timedelta(minutes=1)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _env(n: int, device: str, ts: datetime, typ: str, data: dict[str, object]) -> Envelope:
    return Envelope(id=f"live-{n:06d}", device_id=device, ts=ts, seq=n, type=typ, data=data)


def _stored(
    n: int, device: str, kind: Kind, ts: datetime, typ: str, data: dict[str, object]
) -> StoredEvent:
    return StoredEvent(_env(n, device, ts, typ, data), kind, "h0001", ts)


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(sessions) as s:
        seed(s)
        for dev, kind in (("h0001-dor-front", "door"), ("h0001-mot-hall", "motion")):
            s.add(Device(id=dev, kind=kind, home_id="h0001", password_hash="x", created_at=NIGHT))
    return sessions


def test_night_door_in_a_batch_becomes_an_alert_for_the_homes_client(
    db: sessionmaker[Session],
) -> None:
    clock = Clock(NIGHT)
    hook = RulesHook(clock=clock)
    door = _stored(
        1, "h0001-dor-front", Kind.DOOR, NIGHT, "contact", {"door": "front_door", "state": "open"}
    )
    with unit_of_work(db) as s:
        hook(s, BatchResult(stored=[door]))
    later = _stored(2, "h0001-dor-front", Kind.DOOR, NIGHT + 5 * MIN, "heartbeat", {"uptime_s": 3})
    clock.t = NIGHT + 5 * MIN
    with unit_of_work(db) as s:
        hook(s, BatchResult(stored=[later]))
    with unit_of_work(db) as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert (alert.client_id, alert.rule, alert.team_id) == (
            "c0001",
            "night_exit",
            "nacht-regio",
        )
        assert alert.first_raised_at == NIGHT + 3 * MIN


def test_wall_clock_tick_fires_absence_rules_in_live_mode(db: sessionmaker[Session]) -> None:
    clock = Clock(NIGHT)
    hook = RulesHook(clock=clock)
    door = _stored(
        1, "h0001-dor-front", Kind.DOOR, NIGHT, "contact", {"door": "front_door", "state": "open"}
    )
    with unit_of_work(db) as s:
        hook(s, BatchResult(stored=[door]))
    clock.t = NIGHT + 4 * MIN  # nothing else arrives: only the clock moves
    with unit_of_work(db) as s:
        hook.tick(s)
    with unit_of_work(db) as s:
        assert [a.rule for a in s.scalars(select(Alert))] == ["night_exit"]


def test_decisions_of_a_rolled_back_batch_are_applied_with_the_next(
    db: sessionmaker[Session],
) -> None:
    clock = Clock(NIGHT)
    hook = RulesHook(clock=clock)
    status = StatusChange("h0001-dor-front", Kind.DOOR, "h0001", "offline", NIGHT)
    with unit_of_work(db) as s:
        hook(s, BatchResult(statuses=[status]))
    clock.t = NIGHT + 30 * MIN
    beat = _stored(3, "h0001-mot-hall", Kind.MOTION, NIGHT + 30 * MIN, "heartbeat", {"uptime_s": 1})
    with pytest.raises(RuntimeError), unit_of_work(db) as s:  # noqa: PT012
        hook(s, BatchResult(stored=[beat]))
        raise RuntimeError("commit failed")
    with unit_of_work(db) as s:
        assert [(a.rule, a.first_raised_at) for a in s.scalars(select(Alert))] == []
    with unit_of_work(db) as s:
        hook(s, BatchResult(stored=[beat]))  # the broker redelivers the batch
    with unit_of_work(db) as s:
        assert [a.rule for a in s.scalars(select(Alert))] == ["device_offline"]


def test_warm_up_rebuilds_state_from_stored_events_without_alerting(
    db: sessionmaker[Session],
) -> None:
    clock = Clock(NIGHT + 10 * MIN)
    with unit_of_work(db) as s:
        s.add(
            Event(
                id="old-00001",
                device_id="h0001-dor-front",
                home_id="h0001",
                type="contact",
                ts=NIGHT,
                seq=1,
                received_at=NIGHT,
                data={"door": "front_door", "state": "open"},
            )
        )
    hook = RulesHook(clock=clock)
    with unit_of_work(db) as s:
        assert hook.warm_up(s) == 1
    st = hook.engine.client("c0001")
    assert st is not None
    assert st.out_since == NIGHT
    with unit_of_work(db) as s:
        assert s.scalars(select(Alert)).all() == []
