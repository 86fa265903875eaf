"""Append-only, hash-chained audit log (NEN 7513: who accessed which client data, when, from where).

Each entry's hash covers its content and the previous entry's hash, so changing or
removing any entry breaks the chain from there on; `verify` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.store.models import AuditEntry

GENESIS = "0" * 64


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
    """Append one entry in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time extends the chain; released at commit/rollback.
        session.execute(text("SELECT pg_advisory_xact_lock(7513)"))
    prev = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    prev_hash = prev or GENESIS
    when = (at or datetime.now(UTC)).astimezone(UTC)
    det = detail or {}
    entry = AuditEntry(
        at=when,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client_id=client_id,
        source=source,
        detail=det,
        prev_hash=prev_hash,
        hash=_digest(
            prev_hash, when, actor, action, object_type, object_id, client_id, source, det
        ),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """Result of a chain check."""

    entries: int
    first_bad_id: int | None

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify(session: Session) -> ChainReport:
    """Recompute the chain; report the first entry whose hash or link does not hold."""
    prev_hash = GENESIS
    n = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
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
        if entry.prev_hash != prev_hash or entry.hash != expected:
            return ChainReport(n, entry.id)
        prev_hash = entry.hash
    return ChainReport(n, None)
