"""Append-only, hash-chained audit log (NEN 7513: who accessed which client data, when, from where).

Each entry's hash covers its content and the previous entry's hash, so changing or
removing any entry breaks the chain from there on; `verify` finds the first break.

Entries are written with the change they record (same transaction) and linked into the
chain just before COMMIT (`before_commit`): the chain's single lock is then held for
the few milliseconds of the commit itself, not for the whole request. Holding it from the
first write to the commit serialised every request and, under load, deadlocked a
thread pool (bench/signoff.py with 200 nurses).

`record` only adds the entry to the session. When nothing flushes it before the commit
(the usual request: the access-log entry is the last thing written), the sealer gives it
its place and hash and the commit's flush inserts it sealed: one INSERT. When something
flushes it earlier (a query in the same transaction), it is inserted with a placeholder
hash, visible to that transaction, and the sealer updates it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from hub.store.models import AuditEntry

GENESIS = "0" * 64
_PENDING = "audit_pending"


def _digest(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    client_id: str | None,
    source: str,
    detail: dict[str, Any],
) -> str:
    body = json.dumps(
        [
            prev_hash,
            at.astimezone(UTC).isoformat(),
            actor,
            action,
            object_type,
            object_id,
            client_id,
            source,
            detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _entry(
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    source: str,
    client_id: str | None,
    detail: dict[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        at=at.astimezone(UTC),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client_id=client_id,
        source=source,
        detail=detail or {},
        prev_hash="",
        hash=f"pending-{uuid.uuid4().hex}",  # unique placeholder until sealed
        chain_seq=None,
    )


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    source: str,
    client_id: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction; it joins the chain at commit.

    The entry's `id` is assigned when the session flushes it (at the latest, at commit).
    """
    entry = _entry(
        at=at or datetime.now(UTC),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        source=source,
        client_id=client_id,
        detail=detail,
    )
    session.add(entry)
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


def record_many(
    session: Session,
    entries: list[dict[str, Any]],
    *,
    at: datetime | None = None,
) -> list[AuditEntry]:
    """Append several entries (keyword arguments of `record` each).

    For bulk changes such as a 5,000-client list upload; like `record`, the entries are
    written with one multi-row insert at the next flush and join the chain at commit.
    """
    when = at or datetime.now(UTC)
    rows = [
        _entry(
            at=e.get("at") or when,
            actor=e["actor"],
            action=e["action"],
            object_type=e["object_type"],
            object_id=e["object_id"],
            source=e["source"],
            client_id=e.get("client_id"),
            detail=e.get("detail"),
        )
        for e in entries
    ]
    session.add_all(rows)
    session.info.setdefault(_PENDING, []).extend(rows)
    return rows


# Built once (their cache keys are then computed once): they run on every commit.
_LOCK = text("SELECT pg_advisory_xact_lock(7513)")
_LAST = (
    select(AuditEntry.chain_seq, AuditEntry.hash)
    .where(AuditEntry.chain_seq.is_not(None))
    .order_by(AuditEntry.chain_seq.desc())
    .limit(1)
)


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    """Link this transaction's entries into the chain, in order, right before COMMIT.

    On PostgreSQL an advisory lock (released by that COMMIT) makes one sealer at a time,
    so the chain follows commit order. Entries not flushed yet are inserted sealed.
    """
    pending: list[AuditEntry] = session.info.pop(_PENDING, [])
    if not pending:
        return
    with session.no_autoflush:  # unflushed entries stay so, to be inserted sealed
        if session.get_bind().dialect.name == "postgresql":
            # One sealer at a time; released by the COMMIT that follows immediately.
            session.execute(_LOCK)
        last = session.execute(_LAST).first()
    seq, prev_hash = (int(last[0] or 0), str(last[1])) if last else (0, GENESIS)
    for entry in pending:
        seq += 1
        entry.chain_seq = seq
        entry.prev_hash = prev_hash
        entry.hash = _digest(
            prev_hash,
            entry.at,
            entry.actor,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.client_id,
            entry.source,
            entry.detail,
        )
        prev_hash = entry.hash
    session.flush()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class ChainReport:
    """Result of a chain check."""

    entries: int
    first_bad_id: int | None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify(session: Session) -> ChainReport:
    """Recompute the chain; report the first entry whose hash, link or place does not hold.

    Entries this session wrote and has not committed yet are not in the chain yet; any
    other entry without a place in the chain is itself a break.
    """
    # Read without flushing: entries this session has not written yet stay out of it.
    own_pending = {e.id for e in session.info.get(_PENDING, []) if e.id is not None}
    prev_hash = GENESIS
    n = 0
    with session.no_autoflush:
        entries = session.scalars(
            select(AuditEntry).order_by(
                AuditEntry.chain_seq.is_(None), AuditEntry.chain_seq, AuditEntry.id
            )
        ).all()
    for entry in entries:
        if entry.chain_seq is None and entry.id in own_pending:
            continue
        n += 1
        expected = _digest(
            prev_hash,
            entry.at,
            entry.actor,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.client_id,
            entry.source,
            entry.detail,
        )
        if entry.chain_seq != n or entry.prev_hash != prev_hash or entry.hash != expected:
            return ChainReport(n, entry.id)
        prev_hash = entry.hash
    return ChainReport(n, None)
