"""Live ingest == replay for dead-lettered messages of known devices (ADR 0006, 3.).

A garbled bed 'occupied' is dead-lettered by the ingest; replay feeds such a message to
the engine as `StatusChange(state="unreadable")`, and so must the live path (store_batch
-> BatchResult.unreadable -> RulesHook), or a night's sleep becomes a fall live only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alerts_helpers import seed
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.envelope import Envelope
from devices.kinds import Kind
from hub.alerts.models import Alert
from hub.ingest.store import Inbound, store_batch
from hub.rules.careplan import CarePlan
from hub.rules.engine import Engine
from hub.rules.live import RulesHook
from hub.rules.replay import ReplayStats, read_log
from hub.store.db import unit_of_work
from hub.store.models import Device

EVENING = datetime(2026, 1, 14, 21, 0, tzinfo=UTC)  # 22:00 in Amsterdam
MIN = timedelta(minutes=1)
BED, BEDROOM, TOILET = "h0001-occ-bed", "h0001-mot-bedroom", "h0001-mot-toilet"
KINDS = {BED: Kind.OCCUPANCY, BEDROOM: Kind.MOTION, TOILET: Kind.MOTION}
GARBLED = b"ERR sensor fault 0x1f"

# (minutes after EVENING, device, event type, data; None = a garbled payload)
Script = list[tuple[float, str, str, dict[str, object] | None]]

# In the bedroom, then a garbled 'occupied': the bed is unknown, lying still there is
# sleep (no fall). Later out of bed to the toilet and still there: a fall.
SCRIPT: Script = [
    (0, BED, "occupancy", {"place": "bed", "state": "vacant"}),
    (1, BEDROOM, "motion", {"room": "bedroom"}),
    (5, BED, "occupancy", None),
    (100, BED, "occupancy", {"place": "bed", "state": "vacant"}),
    (101, TOILET, "motion", {"room": "toilet"}),
    (102, TOILET, "motion", {"room": "toilet"}),
    (160, BEDROOM, "motion", {"room": "bedroom"}),
]
END = EVENING + 170 * MIN


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(sessions) as s:
        seed(s)
        for dev, kind in KINDS.items():
            s.add(
                Device(
                    id=dev, kind=kind.value, home_id="h0001", password_hash="x", created_at=EVENING
                )
            )
    return sessions


def _messages(script: Script) -> list[tuple[Inbound, str]]:
    """Wire messages (received 2 s after the device's time) and their replay log lines."""
    out: list[tuple[Inbound, str]] = []
    for n, (minutes, dev, typ, data) in enumerate(script):
        ts = EVENING + minutes * MIN
        topic = topics.event_topic(dev, typ)
        base = {
            "home_id": "h0001",
            "client_id": "c0001",
            "kind": KINDS.get(dev, Kind.OCCUPANCY).value,
        }
        base["topic"] = topic
        if data is None:
            payload = GARBLED
            line = {**base, "raw": GARBLED.decode(), "malformed": True}
        else:
            env = Envelope(id=f"unr-{n:04d}", device_id=dev, ts=ts, seq=n, type=typ, data=data)
            payload = env.model_dump_json().encode()
            line = {**base, "event": env.model_dump(mode="json")}
        out.append((Inbound(topic, payload, ts + timedelta(seconds=2)), json.dumps(line)))
    return out


def _replayed(lines: list[str]) -> list[tuple[str, datetime]]:
    eng = Engine(plan_for=lambda _c: CarePlan())
    out = []
    for item in read_log(lines, ReplayStats()):
        out += eng.process(item)
    out += eng.advance(END)
    return [(d.rule.value, d.raised_at) for d in out]


def _live(db: sessionmaker[Session], batches: list[list[Inbound]]) -> list[tuple[str, datetime]]:
    clock = Clock(EVENING)
    hook = RulesHook(clock=clock)
    for batch in batches:
        with unit_of_work(db) as s:
            store_batch(s, batch, hooks=[hook])
        clock.t = batch[-1].received_at
        with unit_of_work(db) as s:
            hook.tick(s)
    clock.t = END
    with unit_of_work(db) as s:
        hook.tick(s)
    with unit_of_work(db) as s:
        alerts = s.scalars(select(Alert).order_by(Alert.first_raised_at)).all()
        got = [(a.rule, a.first_raised_at.astimezone(UTC)) for a in alerts]
    return got


@pytest.mark.parametrize("batch_size", [1, 3, len(SCRIPT)])
def test_a_garbled_bed_message_counts_live_as_in_replay(
    db: sessionmaker[Session], batch_size: int
) -> None:
    msgs = _messages(SCRIPT)
    replayed = _replayed([line for _, line in msgs])
    # The garbled bed keeps the evening in the bedroom from being a fall; the toilet is one.
    assert replayed == [("fall", EVENING + 102 * MIN + 25 * MIN)]
    inbound = [m for m, _ in msgs]
    batches = [inbound[i : i + batch_size] for i in range(0, len(inbound), batch_size)]
    assert _live(db, batches) == replayed


def test_the_ingest_reports_a_garbled_message_of_a_known_device_as_unreadable(
    db: sessionmaker[Session],
) -> None:
    (garbled, _), (unknown, _) = _messages(
        [(5, BED, "occupancy", None), (6, "h0001-occ-chair", "occupancy", None)]
    )
    with unit_of_work(db) as s:
        result = store_batch(s, [garbled, unknown])
    assert result.dead_letters == 2
    # only the registered device's message: an unknown device tells nothing about a client
    assert [(u.device_id, u.kind, u.home_id, u.state) for u in result.unreadable] == [
        (BED, Kind.OCCUPANCY, "h0001", "unreadable")
    ]
