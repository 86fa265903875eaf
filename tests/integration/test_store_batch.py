"""store_batch on a real database: arbitrary input never raises; each message lands somewhere."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.kinds import Kind
from devices.payloads import Battery, MessageSpoken, Motion, Room
from hub.ingest.store import Inbound, store_batch, store_isolating_poison
from hub.store.db import unit_of_work
from hub.store.models import DeadLetter, Device, Event, Home

DEV = "mot-0000feed"


def _setup(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(Home(id="h1", name="h1", team_id=None, created_at=now))
        s.flush()
        s.add(
            Device(
                id=DEV,
                kind=Kind.MOTION.value,
                home_id="h1",
                label="",
                status="unknown",
                password_hash="x",
                created_at=now,
            )
        )


def _valid(i: int) -> Inbound:
    payload = envelope.encode(
        id=f"evt-{i:08d}",
        device_id=DEV,
        ts=datetime.now(UTC),
        seq=i,
        type="motion",
        data=Motion(room=Room.HALLWAY),
    )
    return Inbound(topics.event_topic(DEV, "motion"), payload, datetime.now(UTC))


topic_st = st.one_of(
    st.just(topics.event_topic(DEV, "motion")),
    st.just(topics.status_topic(DEV)),
    st.just(topics.ack_topic(DEV)),
    st.just(topics.event_topic("mot-unknown1", "motion")),
    st.text(max_size=80),
)


def test_arbitrary_messages_never_raise_and_each_lands_once(
    sessions: sessionmaker[Session],
) -> None:
    _setup(sessions)
    counter = iter(range(10**9))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(junk=st.lists(st.tuples(topic_st, st.binary(max_size=300)), max_size=20))
    def check(junk: list[tuple[str, bytes]]) -> None:
        now = datetime.now(UTC)
        batch = [Inbound(t, p, now) for t, p in junk]
        valid = [_valid(next(counter)) for _ in range(3)]
        batch = valid[:1] + batch + valid[1:]
        with sessions() as s:
            before_ev = s.scalar(select(func.count()).select_from(Event)) or 0
            before_dl = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
        with unit_of_work(sessions) as s:
            result = store_batch(s, batch)
        with sessions() as s:
            after_ev = s.scalar(select(func.count()).select_from(Event)) or 0
            after_dl = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
        assert after_ev - before_ev == len(result.stored) == 3
        assert after_dl - before_dl == result.dead_letters
        landed = len(result.stored) + result.dead_letters + result.acks + len(result.statuses)
        assert landed + result.duplicates == len(batch)

    check()


def test_battery_event_updates_the_device(sessions: sessionmaker[Session]) -> None:
    _setup(sessions)
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(
            Device(
                id="mot-0000bat1",
                kind=Kind.MOTION.value,
                home_id="h1",
                label="",
                status="unknown",
                password_hash="x",
                created_at=now,
            )
        )
    payload = envelope.encode(
        id="evt-battery-1",
        device_id="mot-0000bat1",
        ts=now,
        seq=7,
        type="battery",
        data=Battery(level_pct=12),
    )
    with unit_of_work(sessions) as s:
        store_batch(s, [Inbound(topics.event_topic("mot-0000bat1", "battery"), payload, now)])
    with sessions() as s:
        dev = s.get(Device, "mot-0000bat1")
        assert dev is not None
        assert dev.battery_pct == 12
        assert dev.last_seq == 7
        assert dev.status == "online"


def test_a_message_the_database_refuses_is_dead_lettered_and_the_batch_goes_on(
    sessions: sessionmaker[Session], db_url: str
) -> None:
    _setup(sessions)
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(
            Device(
                id="rbt-0000feed",
                kind=Kind.ROBOT.value,
                home_id="h1",
                label="",
                status="unknown",
                password_hash="x",
                created_at=now,
            )
        )
    # Valid by the contract, but PostgreSQL's jsonb cannot hold U+0000.
    poison = envelope.encode(
        id="evt-poison-1",
        device_id="rbt-0000feed",
        ts=now,
        seq=1,
        type="message.spoken",
        data=MessageSpoken(
            message_id="m1", schedule_version=1, scheduled_for=now, text="Goedemorgen\u0000"
        ),
    )
    batch = [
        _valid(1),
        Inbound(topics.event_topic("rbt-0000feed", "message.spoken"), poison, now),
        _valid(2),
    ]
    result = store_isolating_poison(sessions, batch)
    with sessions() as s:
        ids = set(s.scalars(select(Event.id)))
        reasons = list(s.scalars(select(DeadLetter.reason)))
    assert {"evt-00000001", "evt-00000002"} <= ids
    if db_url.startswith("postgresql"):
        assert "evt-poison-1" not in ids
        assert result.dead_letters == 1
        assert len(reasons) == 1
        assert reasons[0].startswith("storage refused:")
    else:  # SQLite stores the text as it is
        assert "evt-poison-1" in ids
        assert result.dead_letters == 0
