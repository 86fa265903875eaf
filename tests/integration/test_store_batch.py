"""store_batch on a real database: arbitrary input never raises; each message lands somewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.kinds import Kind
from devices.payloads import Battery, MessageSpoken, Motion, Room
from hub.ingest.store import (
    BatchResult,
    Inbound,
    sqlite_datetime,
    store_batch,
    store_isolating_poison,
)
from hub.store.base import UTCDateTime
from hub.store.db import make_engine, unit_of_work
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


# --- the driver-level insert (multi-row VALUES / unnest … ON CONFLICT DO NOTHING RETURNING) ---


def _event(i: int, *, ts: datetime, data: Motion | None = None) -> Inbound:
    payload = envelope.encode(
        id=f"evt-raw-{i:06d}",
        device_id=DEV,
        ts=ts,
        seq=i,
        type="motion",
        data=data or Motion(room=Room.KITCHEN),
    )
    return Inbound(topics.event_topic(DEV, "motion"), payload, datetime.now(UTC))


class _Seen:
    """A BatchHook that records the event ids each batch hands to the hooks."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, session: Session, result: BatchResult) -> None:
        self.ids += [ev.envelope.id for ev in result.stored]


def test_duplicates_within_and_across_batches_are_stored_once_and_hooks_see_them_once(
    sessions: sessionmaker[Session],
) -> None:
    _setup(sessions)
    ts = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    # 250 events (more than one SQLite chunk of 100 rows), each id twice in the batch.
    first = [_event(i, ts=ts) for i in range(250)]
    hook = _Seen()
    with unit_of_work(sessions) as s:
        r1 = store_batch(s, first + first[::-1], hooks=[hook])
    assert len(r1.stored) == 250
    assert r1.duplicates == 250
    # The next batch: 100 redeliveries of the first and 120 new events.
    second = first[50:150] + [_event(i, ts=ts) for i in range(250, 370)]
    with unit_of_work(sessions) as s:
        r2 = store_batch(s, second, hooks=[hook])
    assert {ev.envelope.id for ev in r2.stored} == {f"evt-raw-{i:06d}" for i in range(250, 370)}
    assert r2.duplicates == 100
    assert len(hook.ids) == len(set(hook.ids)) == 370
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 370
        assert s.scalar(select(func.count(func.distinct(Event.id)))) == 370


def test_a_failed_batch_leaves_nothing_and_its_retry_stores_everything_once(
    sessions: sessionmaker[Session],
) -> None:
    _setup(sessions)
    batch = [_event(i, ts=datetime.now(UTC)) for i in range(120)]

    def boom(session: Session, result: BatchResult) -> None:
        raise RuntimeError("a hook failed after the insert")

    try:
        with unit_of_work(sessions) as s:
            store_batch(s, batch, hooks=[boom])
    except RuntimeError:
        pass
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0  # rolled back together
    with unit_of_work(sessions) as s:
        again = store_batch(s, batch)
    assert len(again.stored) == 120
    assert again.duplicates == 0


def test_rows_from_the_driver_insert_read_back_like_orm_rows(
    sessions: sessionmaker[Session],
) -> None:
    _setup(sessions)
    amsterdam = timezone(timedelta(hours=1))
    ts = datetime(2026, 11, 20, 8, 0, 0, 0, tzinfo=amsterdam)  # no microseconds, an offset
    msg = _event(1, ts=ts)
    with unit_of_work(sessions) as s:
        store_batch(s, [msg])
        s.add(  # the same shape through the ORM, one microsecond later
            Event(
                id="evt-orm-000001",
                device_id=DEV,
                home_id="h1",
                type="motion",
                ts=ts + timedelta(microseconds=1),
                seq=2,
                received_at=msg.received_at,
                data={"room": "kitchen"},
            )
        )
    with sessions() as s:
        raw = s.get(Event, "evt-raw-000001")
        assert raw is not None
        assert raw.ts == ts
        assert raw.ts.tzinfo is not None
        assert raw.received_at == msg.received_at
        assert raw.home_id == "h1"
        assert raw.seq == 1
        assert raw.data == {"room": "kitchen"}
        # Range queries and ordering treat both kinds of row alike.
        ids = s.scalars(select(Event.id).where(Event.ts >= ts).order_by(Event.ts)).all()
        assert ids == ["evt-raw-000001", "evt-orm-000001"]
        assert s.scalars(select(Event.id).where(Event.ts > ts)).all() == ["evt-orm-000001"]


@settings(max_examples=60, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.timezones(),
    )
)
def test_sqlite_datetime_is_byte_equal_to_what_sqlalchemy_stores(when: datetime) -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE t (at DATETIME)")
        c.execute(insert(_T), [{"at": when}])
        stored = c.exec_driver_sql("SELECT at FROM t").scalar_one()
    engine.dispose()
    assert sqlite_datetime(when) == stored


_T = Table("t", MetaData(), Column("at", UTCDateTime()))


def test_a_topic_with_nul_is_dead_lettered_not_refused(sessions: sessionmaker[Session]) -> None:
    # Found by the property test above on PostgreSQL: text columns cannot hold U+0000.
    with unit_of_work(sessions) as s:
        result = store_batch(
            s, [Inbound("carehub/v1/dev/\x00/evt/motion", b"{}", datetime.now(UTC))]
        )
    assert result.dead_letters == 1
    with sessions() as s:
        row = s.scalars(select(DeadLetter)).one()
        assert "\x00" not in row.topic
        assert row.payload == b"{}"


def test_a_batch_updates_every_device_once_and_keeps_values_it_does_not_report(
    sessions: sessionmaker[Session],
) -> None:
    """last_seen/status/seq for each device of a batch; a battery level stays until the
    device reports a new one (one statement for all devices, on both databases)."""
    _setup(sessions)
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [f"mot-0000upd{i}" for i in range(3)]
    with unit_of_work(sessions) as s:
        for dev_id in ids:
            s.add(
                Device(
                    id=dev_id,
                    kind=Kind.MOTION.value,
                    home_id="h1",
                    label="",
                    status="offline",
                    password_hash="x",
                    created_at=now,
                )
            )

    def event(dev_id: str, seq: int, at: datetime, data: Battery | Motion) -> Inbound:
        typ = "battery" if isinstance(data, Battery) else "motion"
        payload = envelope.encode(
            id=f"evt-{dev_id}-{seq}", device_id=dev_id, ts=at, seq=seq, type=typ, data=data
        )
        return Inbound(topics.event_topic(dev_id, typ), payload, at)

    first = [event(d, 1, now, Battery(level_pct=40 + i)) for i, d in enumerate(ids)]
    with unit_of_work(sessions) as s:
        store_batch(s, first)
    later = now + timedelta(minutes=5)
    second = [event(ids[0], 2, later, Motion(room=Room.KITCHEN))]
    second += [event(ids[1], 3, later, Battery(level_pct=9))]
    with unit_of_work(sessions) as s:
        store_batch(s, second)
    with sessions() as s:
        devs = {d.id: d for d in s.scalars(select(Device).where(Device.id.in_(ids)))}
    assert {d: (v.status, v.battery_pct, v.last_seq) for d, v in devs.items()} == {
        ids[0]: ("online", 40, 2),
        ids[1]: ("online", 9, 3),
        ids[2]: ("online", 42, 1),
    }
    assert devs[ids[0]].last_seen == later
    assert devs[ids[1]].last_seen == later
    assert devs[ids[2]].last_seen == now
