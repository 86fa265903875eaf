"""Store one batch of inbound MQTT messages in one transaction (no broker, no threads here).

Every message ends in exactly one place: the events table (once per envelope id, whatever
the redeliveries), a device status/ack update, or the dead letters with the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import BigInteger, Integer, Table, bindparam, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.kinds import Kind
from devices.payloads import Ack, Status
from hub.store.db import unit_of_work
from hub.store.models import DeadLetter, Device, DeviceAck, Event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received MQTT message, independent of paho."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0  # connection generation; acks are only valid on the same connection


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event stored for the first time in this batch (redeliveries are not repeated)."""

    envelope: envelope.Envelope
    kind: Kind
    home_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device's availability as it told us (or its Last Will did)."""

    device_id: str
    kind: Kind
    home_id: str | None
    state: str
    at: datetime


@dataclass
class BatchResult:
    """What one batch did."""

    stored: list[StoredEvent] = field(default_factory=list)
    duplicates: int = 0
    dead_letters: int = 0
    statuses: list[StatusChange] = field(default_factory=list)
    acks: int = 0
    # Dead-lettered event messages of known devices, in arrival order (state "unreadable",
    # `at` = received_at): what they said is lost, not that the device spoke. The rules
    # treat them as replay does (docs/adr/0006-event-time-rules.md, 3.).
    unreadable: list[StatusChange] = field(default_factory=list)


DEVICES_TABLE: Table = Device.__table__  # type: ignore[assignment]


class BatchHook(Protocol):
    """Called inside the batch's transaction with what was newly stored (rules, eTRS)."""

    def __call__(self, session: Session, result: BatchResult) -> None: ...


@dataclass(frozen=True, slots=True)
class _DeviceInfo:
    kind: Kind
    home_id: str | None


# Core, not ORM: a batch names ~100 devices, and the ORM's row loading was a tenth of the
# worker's time. The expanding IN keeps one cached compiled form for any number of ids.
_LOAD_DEVICES = select(DEVICES_TABLE.c.id, DEVICES_TABLE.c.kind, DEVICES_TABLE.c.home_id).where(
    DEVICES_TABLE.c.id.in_(bindparam("ids", expanding=True)),
    DEVICES_TABLE.c.revoked_at.is_(None),
)
_KINDS = {k.value: k for k in Kind}

# One statement for all devices of a batch (executemany); absent values keep stored ones.
_UPDATE_DEVICES = (
    update(DEVICES_TABLE)
    .where(DEVICES_TABLE.c.id == bindparam("b_id"))
    .values(
        last_seen=bindparam("last_seen"),
        status=bindparam("status"),
        last_seq=func.coalesce(bindparam("last_seq", type_=BigInteger), DEVICES_TABLE.c.last_seq),
        battery_pct=func.coalesce(
            bindparam("battery_pct", type_=Integer), DEVICES_TABLE.c.battery_pct
        ),
    )
)


def _load_devices(session: Session, ids: set[str]) -> dict[str, _DeviceInfo]:
    if not ids:
        return {}
    rows = session.connection().execute(_LOAD_DEVICES, {"ids": sorted(ids)}).all()
    return {dev: _DeviceInfo(_KINDS[kind], home) for dev, kind, home in rows}


EVENTS_TABLE: Table = Event.__table__  # type: ignore[assignment]


# PostgreSQL: the whole batch as one JSON text parameter, unpacked by the server
# (json_to_recordset). The query text stays constant (no re-parsing per batch size), and
# the client builds one string with the C JSON encoder instead of adapting eight
# 500-element arrays element by element (psycopg's text arrays quote each value in Python).
_PG_INSERT_EVENTS = text(
    """
    INSERT INTO events (id, device_id, home_id, type, ts, seq, received_at, data)
    SELECT u.id, u.device_id, u.home_id, u.type, u.ts, u.seq, u.received_at, u.data
    FROM json_to_recordset(CAST(:rows AS json))
         AS u(id varchar, device_id varchar, home_id varchar, type varchar,
              ts timestamptz, seq bigint, received_at timestamptz, data jsonb)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)


EventRow = tuple[str, str, str | None, str, datetime, int, datetime, dict[str, Any]]
"""(id, device_id, home_id, type, ts, seq, received_at, data): one new events row."""

_EVENT_COLUMNS = ("id", "device_id", "home_id", "type", "ts", "seq", "received_at", "data")

# SQLite: multi-row VALUES … RETURNING through the driver, without SQLAlchemy's per-row
# parameter processing (the ingest's largest cost per event after decoding). 100 rows x 8
# parameters stays below every SQLite build's variable limit (999 before 3.32).
_SQLITE_CHUNK = 100
_sqlite_insert_sql: dict[int, str] = {}


def _sqlite_insert(rows: int) -> str:
    sql = _sqlite_insert_sql.get(rows)
    if sql is None:
        values = ",".join(["(?,?,?,?,?,?,?,?)"] * rows)
        sql = (
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES {values} "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        _sqlite_insert_sql[rows] = sql
    return sql


# PostgreSQL: every device of the batch in two statements (executemany sent one UPDATE per
# device). First the rows are locked in id order, then updated: hubs sharing the load lock
# device rows in the same order and cannot deadlock on them (several hubs, docs/adr/0011).
# The lock is the one UPDATE itself takes (NO KEY UPDATE), which does not conflict with the
# KEY SHARE locks other hubs' event inserts take through the foreign key. (One statement
# with the lock in a CTE deadlocked: the UPDATE's join may reach rows first.)
_PG_LOCK_DEVICES = text(
    "SELECT id FROM devices WHERE id = ANY(CAST(:ids AS varchar[])) ORDER BY id FOR NO KEY UPDATE"
)
_PG_UPDATE_DEVICES = text(
    """
    UPDATE devices AS d
    SET last_seen = u.last_seen,
        status = u.status,
        last_seq = COALESCE(u.last_seq, d.last_seq),
        battery_pct = COALESCE(u.battery_pct, d.battery_pct)
    FROM json_to_recordset(CAST(:rows AS json))
        AS u(b_id varchar, last_seen timestamptz, status varchar, last_seq bigint,
             battery_pct integer)
    WHERE d.id = u.b_id
    """
)


def _update_devices(session: Session, rows: list[dict[str, Any]]) -> None:
    """last_seen, status and (when reported) sequence and battery of the batch's devices;
    `rows` in device id order."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        doc = json.dumps(
            [{**r, "last_seen": r["last_seen"].isoformat()} for r in rows],
            separators=(",", ":"),
        )
        conn.execute(_PG_LOCK_DEVICES, {"ids": [r["b_id"] for r in rows]})
        conn.execute(_PG_UPDATE_DEVICES, {"rows": doc})
    else:
        conn.execute(_UPDATE_DEVICES, rows)


def sqlite_datetime(value: datetime) -> str:
    """A UTC instant as `UTCDateTime` stores it on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff').

    Byte-equal to SQLAlchemy's own bind processing (tested), so raw and ORM rows compare
    and sort alike.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # drop the "+00:00"


def _insert_events(session: Session, rows: list[EventRow]) -> set[str]:
    """Insert, skipping ids already stored; return the ids that are new."""
    if not rows:
        return set()
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        doc = json.dumps(
            [
                {
                    "id": eid,
                    "device_id": dev,
                    "home_id": home,
                    "type": typ,
                    "ts": ts.isoformat(),
                    "seq": seq,
                    "received_at": received_at.isoformat(),
                    "data": data,
                }
                for eid, dev, home, typ, ts, seq, received_at, data in rows
            ],
            separators=(",", ":"),
        )
        return set(conn.execute(_PG_INSERT_EVENTS, {"rows": doc}).scalars().all())
    if dialect == "sqlite":
        new: set[str] = set()
        dumps, fmt = json.dumps, sqlite_datetime
        for start in range(0, len(rows), _SQLITE_CHUNK):
            chunk = rows[start : start + _SQLITE_CHUNK]
            flat: list[Any] = []
            for eid, dev, home, typ, ts, seq, received_at, data in chunk:
                flat += (eid, dev, home, typ, fmt(ts), seq, fmt(received_at), dumps(data))
            # exec_driver_sql: no statement compilation or per-row bind processing, but
            # errors are still SQLAlchemy's (is_transient sees OperationalError).
            result = conn.exec_driver_sql(_sqlite_insert(len(chunk)), tuple(flat))
            new.update(r[0] for r in result.fetchall())
        return new
    raise RuntimeError(f"carehub stores events on SQLite or PostgreSQL, not {dialect}")


# Topics repeat (one per device and event type): parse each once. Bounded; TopicError
# is not cached, so hostile topics cost their parse every time but cannot grow the cache.
_TOPIC_CACHE_MAX = 50_000
_topic_cache: dict[str, topics.Topic] = {}


def _parse_topic(topic: str) -> topics.Topic:
    parsed = _topic_cache.get(topic)
    if parsed is None:
        parsed = topics.parse(topic)
        if len(_topic_cache) >= _TOPIC_CACHE_MAX:
            _topic_cache.clear()
        _topic_cache[topic] = parsed
    return parsed


def _text(value: str, limit: int) -> str:
    """Text for a dead-letter column: PostgreSQL text cannot hold U+0000 (the raw bytes of
    the payload are kept as they came; a topic or reason is shown with U+FFFD instead)."""
    return value[:limit].replace("\x00", "\ufffd")


def store_batch(
    session: Session,
    messages: Sequence[Inbound],
    *,
    max_bytes: int = envelope.MAX_PAYLOAD_BYTES,
    hooks: Sequence[BatchHook] = (),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BatchResult:
    """Classify, validate and store a batch in the caller's transaction."""
    result = BatchResult()
    dead: list[dict[str, Any]] = []
    parsed: list[tuple[Inbound, topics.Topic]] = []

    def dead_letter(msg: Inbound, reason: str, device_id: str | None = None) -> None:
        dead.append(
            {
                "topic": _text(msg.topic, 4096),
                "device_id": device_id,
                "payload": msg.payload,
                "reason": _text(reason, 2000),
                "received_at": msg.received_at,
            }
        )

    for msg in messages:
        try:
            parsed.append((msg, _parse_topic(msg.topic)))
        except topics.TopicError as exc:
            dead_letter(msg, f"topic: {exc}")

    registry = _load_devices(session, {t.device_id for _, t in parsed})
    event_rows: list[EventRow] = []
    candidates: dict[str, StoredEvent] = {}
    seen: dict[str, dict[str, Any]] = {}  # device_id -> last_seen/seq/battery/status update

    def touch(device_id: str, at: datetime, **values: Any) -> None:
        cur = seen.setdefault(
            device_id,
            {
                "b_id": device_id,
                "last_seen": at,
                "status": "online",
                "battery_pct": None,
                "last_seq": None,
            },
        )
        cur["last_seen"] = max(cur["last_seen"], at)
        for k, v in values.items():
            if v is not None:
                cur[k] = v

    for msg, topic in parsed:
        info = registry.get(topic.device_id)
        if info is None:
            dead_letter(msg, f"unknown or revoked device {topic.device_id!r}", topic.device_id)
            continue
        if topic.channel is topics.Channel.EVENT:
            try:
                env = envelope.decode(msg.payload, max_bytes=max_bytes)
                envelope.check_allowed(
                    env,
                    kind=info.kind,
                    topic_device_id=topic.device_id,
                    topic_type=topic.name or "",
                )
            except envelope.InvalidPayload as exc:
                dead_letter(msg, exc.reason, topic.device_id)
                result.unreadable.append(
                    StatusChange(
                        topic.device_id, info.kind, info.home_id, "unreadable", msg.received_at
                    )
                )
                continue
            if env.id in candidates:
                result.duplicates += 1
                continue
            candidates[env.id] = StoredEvent(env, info.kind, info.home_id, msg.received_at)
            event_rows.append(
                (
                    env.id,
                    env.device_id,
                    info.home_id,
                    env.type,
                    env.ts,
                    env.seq,
                    msg.received_at,
                    env.data,
                )
            )
            battery = env.data.get("level_pct") if env.type == "battery" else None
            touch(
                topic.device_id,
                msg.received_at,
                status="online",
                last_seq=env.seq,
                battery_pct=battery,
            )
        elif topic.channel is topics.Channel.STATUS:
            try:
                status = Status.model_validate_json(msg.payload)
            except ValidationError as exc:
                dead_letter(msg, f"status: {exc.errors()[0]['msg']}", topic.device_id)
                continue
            touch(topic.device_id, msg.received_at, status=status.state)
            result.statuses.append(
                StatusChange(
                    topic.device_id, info.kind, info.home_id, status.state, msg.received_at
                )
            )
        elif topic.channel is topics.Channel.ACK:
            try:
                ack = Ack.model_validate_json(msg.payload)
            except ValidationError as exc:
                dead_letter(msg, f"ack: {exc.errors()[0]['msg']}", topic.device_id)
                continue
            session.add(
                DeviceAck(
                    device_id=topic.device_id,
                    command=ack.command,
                    version=ack.version,
                    ok=ack.ok,
                    error=ack.error,
                    received_at=msg.received_at,
                )
            )
            touch(topic.device_id, msg.received_at, status="online")
            result.acks += 1
        else:  # the hub does not subscribe to commands; a device may not publish them
            dead_letter(msg, "devices may not publish commands", topic.device_id)

    new_ids = _insert_events(session, event_rows)
    result.duplicates += len(candidates) - len(new_ids)
    result.stored = [ev for eid, ev in candidates.items() if eid in new_ids]
    if dead:
        session.execute(insert(DeadLetter), dead)
        result.dead_letters = len(dead)
    if seen:
        # One statement for all devices of the batch; absent values keep the stored ones.
        _update_devices(session, [seen[k] for k in sorted(seen)])
    for hook in hooks:
        hook(session, result)
    return result


def is_transient(exc: BaseException) -> bool:
    """True for errors that say 'the database is away', not 'this data cannot be stored'."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError)


def store_isolating_poison(
    sessions: sessionmaker[Session],
    batch: Sequence[Inbound],
    *,
    max_bytes: int = envelope.MAX_PAYLOAD_BYTES,
    hooks: Sequence[BatchHook] = (),
) -> BatchResult:
    """Store a batch in one transaction; if the database refuses its *data*, store message by
    message and dead-letter the ones it refuses, so one poison message cannot stall ingest.

    Transient errors (database away) propagate: the caller retries the whole batch later.
    """
    try:
        with unit_of_work(sessions) as session:
            return store_batch(session, batch, max_bytes=max_bytes, hooks=hooks)
    except Exception as exc:
        if is_transient(exc) or len(batch) == 0:
            raise
        log.warning(
            "batch of %d refused by the database (%s: %s); isolating",
            len(batch),
            type(exc).__name__,
            str(exc).splitlines()[0][:300] if str(exc) else "",
        )
    total = BatchResult()
    for msg in batch:
        try:
            with unit_of_work(sessions) as session:
                one = store_batch(session, [msg], max_bytes=max_bytes, hooks=hooks)
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = f"storage refused: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            with unit_of_work(sessions) as session:
                session.execute(
                    insert(DeadLetter),
                    [
                        {
                            "topic": _text(msg.topic, 4096),
                            "device_id": None,
                            "payload": msg.payload,
                            "reason": _text(reason, 2000),
                            "received_at": msg.received_at,
                        }
                    ],
                )
            total.dead_letters += 1
            continue
        total.stored += one.stored
        total.duplicates += one.duplicates
        total.dead_letters += one.dead_letters
        total.statuses += one.statuses
        total.acks += one.acks
        total.unreadable += one.unreadable
    return total
