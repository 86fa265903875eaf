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
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


class BatchHook(Protocol):
    """Called inside the batch's transaction with what was newly stored (rules, eTRS)."""

    def __call__(self, session: Session, result: BatchResult) -> None: ...


DEVICES_TABLE: Table = Device.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _DeviceInfo:
    kind: Kind
    home_id: str | None


def _load_devices(session: Session, ids: set[str]) -> dict[str, _DeviceInfo]:
    if not ids:
        return {}
    rows = session.execute(
        select(Device.id, Device.kind, Device.home_id).where(
            Device.id.in_(ids), Device.revoked_at.is_(None)
        )
    )
    return {r.id: _DeviceInfo(Kind(r.kind), r.home_id) for r in rows}


EVENTS_TABLE: Table = Event.__table__  # type: ignore[assignment]


# PostgreSQL: the whole batch as eight arrays in one statement. A multi-row VALUES list
# makes psycopg re-parse a new, long query text for every batch; unnest keeps it constant.
_PG_INSERT_EVENTS = text(
    """
    INSERT INTO events (id, device_id, home_id, type, ts, seq, received_at, data)
    SELECT u.id, u.device_id, u.home_id, u.type, u.ts, u.seq, u.received_at, u.data::jsonb
    FROM unnest(CAST(:id AS varchar[]), CAST(:device_id AS varchar[]),
                CAST(:home_id AS varchar[]), CAST(:type AS varchar[]),
                CAST(:ts AS timestamptz[]), CAST(:seq AS bigint[]),
                CAST(:received_at AS timestamptz[]), CAST(:data AS text[]))
         AS u(id, device_id, home_id, type, ts, seq, received_at, data)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert, skipping ids already stored; return the ids that are new."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        cols = ("id", "device_id", "home_id", "type", "ts", "seq", "received_at")
        params: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in cols}
        params["data"] = [json.dumps(r["data"], separators=(",", ":")) for r in rows]
        return set(session.execute(_PG_INSERT_EVENTS, params).scalars().all())
    # SQLite: an executemany that SQLAlchemy batches into multi-row INSERT … RETURNING.
    stmt = (
        sqlite_insert(EVENTS_TABLE)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(EVENTS_TABLE.c.id)
    )
    return set(session.execute(stmt, rows).scalars().all())


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
                "topic": msg.topic[:4096],
                "device_id": device_id,
                "payload": msg.payload,
                "reason": reason[:2000],
                "received_at": msg.received_at,
            }
        )

    for msg in messages:
        try:
            parsed.append((msg, topics.parse(msg.topic)))
        except topics.TopicError as exc:
            dead_letter(msg, f"topic: {exc}")

    registry = _load_devices(session, {t.device_id for _, t in parsed})
    event_rows: list[dict[str, Any]] = []
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
                continue
            if env.id in candidates:
                result.duplicates += 1
                continue
            candidates[env.id] = StoredEvent(env, info.kind, info.home_id, msg.received_at)
            event_rows.append(
                {
                    "id": env.id,
                    "device_id": env.device_id,
                    "home_id": info.home_id,
                    "type": env.type,
                    "ts": env.ts,
                    "seq": env.seq,
                    "received_at": msg.received_at,
                    "data": env.data,
                }
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
        c = DEVICES_TABLE.c
        session.execute(
            update(DEVICES_TABLE)
            .where(c.id == bindparam("b_id"))
            .values(
                last_seen=bindparam("last_seen"),
                status=bindparam("status"),
                last_seq=func.coalesce(bindparam("last_seq", type_=BigInteger), c.last_seq),
                battery_pct=func.coalesce(bindparam("battery_pct", type_=Integer), c.battery_pct),
            ),
            list(seen.values()),
        )
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
            "batch of %d refused by the database (%s); isolating", len(batch), type(exc).__name__
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
                            "topic": msg.topic[:4096],
                            "device_id": None,
                            "payload": msg.payload,
                            "reason": reason,
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
    return total
