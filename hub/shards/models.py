"""Tables for several hubs: shard leases, hub membership and the per-shard event feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType

# SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ShardLease(Base):
    """Who runs the rules of one shard of homes, until when, and how far it got.

    `epoch` is the fencing token: it grows on every acquisition, and every write of the
    owner (position, ticks) is conditional on it, so a hub that lost its lease cannot
    write after the new owner took over.
    """

    __tablename__ = "shard_leases"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime]
    # Feed position: the highest shard_feed.tx whose events the rules have processed.
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    # The owner's last clock tick: it fired the shard's timers up to `ticked_until`, with
    # the events up to feed position `ticked_position` processed (a new owner fires the
    # timers that tick did not reach, or that were set by events processed after it).
    ticked_until: Mapped[datetime | None]
    ticked_position: Mapped[int] = mapped_column(BigInteger, default=0)
    acquired_at: Mapped[datetime | None]


class ShardMember(Base):
    """A live hub process (heartbeat): the fair share of shards is N / live members."""

    __tablename__ = "shard_members"

    hub_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime]
    started_at: Mapped[datetime]


class ShardFeedRow(Base):
    """What one ingest transaction stored for one shard: event ids and status changes.

    `tx` is the writing transaction's PostgreSQL xid8: a reader takes only rows below the
    oldest transaction still in progress, so no row can appear later below its position
    (commit order is not id order).
    """

    __tablename__ = "shard_feed"
    __table_args__ = (Index("ix_shard_feed_shard_tx", "shard", "tx"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shard: Mapped[int] = mapped_column(Integer)
    tx: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
