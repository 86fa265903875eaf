"""Shard leases in PostgreSQL: acquire, renew, release and fenced writes, each one statement.

Times come from the database's clock (`now()`), so hubs with skewed clocks still agree on
when a lease expired. Every write of an owner is conditional on (owner, epoch): once
another hub has acquired the shard (epoch + 1), the old owner's writes match no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session


class ShardConfigError(RuntimeError):
    """The lease table was set up for another number of shards."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this hub holds."""

    shard: int
    epoch: int
    position: int
    ticked_until: datetime | None
    ticked_position: int


_ENSURE = text(
    "INSERT INTO shard_leases (shard, owner, epoch, expires_at, position, ticked_until, "
    "ticked_position) SELECT g, NULL, 0, now(), 0, now(), 0 FROM generate_series(0, :n - 1) AS g "
    "ON CONFLICT (shard) DO NOTHING"
)
_COUNT = text("SELECT count(*), coalesce(max(shard), -1) FROM shard_leases")
_RELEASE_ALL = text(
    "UPDATE shard_leases SET owner = NULL, expires_at = now() WHERE owner = :me RETURNING shard"
)
_HEARTBEAT = text(
    "INSERT INTO shard_members (hub_id, expires_at, started_at) "
    "VALUES (:me, now() + make_interval(secs => :ttl), now()) "
    "ON CONFLICT (hub_id) DO UPDATE SET expires_at = EXCLUDED.expires_at"
)
_LIVE = text("SELECT count(*) FROM shard_members WHERE expires_at > now()")
_FORGET_MEMBERS = text(
    "DELETE FROM shard_members WHERE expires_at < now() - interval '1 hour' OR hub_id = :me"
)
_LEAVE = text("DELETE FROM shard_members WHERE hub_id = :me")
_RENEW = text(
    "UPDATE shard_leases SET expires_at = now() + make_interval(secs => :ttl) "
    "WHERE owner = :me RETURNING shard, epoch"
)
# One statement: lock up to k free or expired leases (skipping any another hub is taking
# right now) and take them with a new epoch.
_ACQUIRE = text(
    "UPDATE shard_leases SET owner = :me, epoch = epoch + 1, "
    "expires_at = now() + make_interval(secs => :ttl), acquired_at = now() "
    "WHERE shard IN (SELECT shard FROM shard_leases "
    "WHERE owner IS NULL OR expires_at < now() ORDER BY shard LIMIT :k "
    "FOR UPDATE SKIP LOCKED) "
    "RETURNING shard, epoch, position, ticked_until, ticked_position"
)
_RELEASE = text(
    "UPDATE shard_leases SET owner = NULL, expires_at = now() "
    "WHERE shard = :s AND owner = :me AND epoch = :e"
)
_FENCE_POSITION = text(
    "UPDATE shard_leases SET position = greatest(position, :p) "
    "WHERE shard = :s AND owner = :me AND epoch = :e"
)
_FENCE_TICK = text(
    "UPDATE shard_leases SET ticked_until = :t, ticked_position = :p "
    "WHERE shard = :s AND owner = :me AND epoch = :e"
)
_PRUNE = text(
    "DELETE FROM shard_feed WHERE shard = :s AND tx <= :p "
    "AND created_at < now() - make_interval(secs => :keep)"
)


def ensure_leases(session: Session, *, shards: int) -> None:
    """Create the lease rows 0..shards-1; refuse a table set up for another count."""
    count, top = session.execute(_COUNT).one()
    if int(count) == 0:  # the first hub ever (two at once insert the same rows)
        session.execute(_ENSURE, {"n": shards})
        count, top = session.execute(_COUNT).one()
    if int(count) != shards or int(top) != shards - 1:
        raise ShardConfigError(
            f"shard_leases holds {count} shards, CAREHUB_SHARDS is {shards}: every hub must "
            "use the same value (changing it: docs/adr/0011-several-hubs.md)"
        )


def release_all(session: Session, *, me: str) -> list[int]:
    """Give up every lease held under this hub id (a restarted process has no state)."""
    return [int(r[0]) for r in session.execute(_RELEASE_ALL, {"me": me})]


def heartbeat(session: Session, *, me: str, ttl_s: float) -> int:
    """Announce this hub as live; returns how many hubs are live (this one included)."""
    session.execute(_HEARTBEAT, {"me": me, "ttl": ttl_s})
    return max(1, int(session.execute(_LIVE).scalar_one()))


def leave(session: Session, *, me: str) -> None:
    """Stop counting this hub as live."""
    session.execute(_LEAVE, {"me": me})


def forget_stale_members(session: Session, *, me: str) -> None:
    """Drop long-dead hubs (and this hub's previous incarnation) from the member list."""
    session.execute(_FORGET_MEMBERS, {"me": me})


def renew(session: Session, *, me: str, ttl_s: float) -> dict[int, int]:
    """Extend every lease this hub holds; returns {shard: epoch} as the database has them."""
    rows = session.execute(_RENEW, {"me": me, "ttl": ttl_s})
    return {int(r[0]): int(r[1]) for r in rows}


def acquire(session: Session, *, me: str, ttl_s: float, k: int) -> list[Lease]:
    """Take up to k free or expired leases."""
    if k <= 0:
        return []
    rows = session.execute(_ACQUIRE, {"me": me, "ttl": ttl_s, "k": k})
    return sorted(
        (Lease(int(r[0]), int(r[1]), int(r[2]), r[3], int(r[4])) for r in rows),
        key=lambda x: x.shard,
    )


def release(session: Session, *, me: str, shard: int, epoch: int) -> bool:
    """Give one lease up at once (hand-over without waiting for the TTL)."""
    return _rowcount(session.execute(_RELEASE, {"s": shard, "me": me, "e": epoch})) == 1


def fence_position(session: Session, *, me: str, shard: int, epoch: int, position: int) -> bool:
    """Record the processed feed position; False when the lease is no longer ours.

    Called first in the owner's transaction: the row lock it takes makes a concurrent
    acquisition wait for this transaction, so alerts and position commit together or the
    new owner sees neither.
    """
    params = {"s": shard, "me": me, "e": epoch, "p": position}
    return _rowcount(session.execute(_FENCE_POSITION, params)) == 1


def fence_tick(
    session: Session, *, me: str, shard: int, epoch: int, at: datetime, position: int
) -> bool:
    """Record that the shard's timers fired up to `at` with the feed processed up to
    `position`; False when the lease is no longer ours."""
    params = {"s": shard, "me": me, "e": epoch, "t": at, "p": position}
    return _rowcount(session.execute(_FENCE_TICK, params)) == 1


def prune_feed(session: Session, *, shard: int, position: int, keep_s: float = 600.0) -> int:
    """Delete processed feed rows older than `keep_s`."""
    return _rowcount(session.execute(_PRUNE, {"s": shard, "p": position, "keep": keep_s}))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
