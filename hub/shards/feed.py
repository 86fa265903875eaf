"""The per-shard event feed: written by every hub's ingest, read by each shard's owner.

Any hub may store any event (the broker splits the messages between hubs); the feed row,
written in the same transaction as the events, tells the shard's owner which events and
status changes are new. Rows carry the writing transaction's xid8, and readers take only
rows below the oldest transaction of this database still in progress (`horizon`), so a
reader's position never jumps over a row that commits later (a serial id would: ids are
handed out in insert order, not commit order).
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.ingest.store import BatchResult


def shard_of(home_id: str, shards: int) -> int:
    """The shard of a home: a stable hash (the same in every process and release)."""
    return zlib.crc32(home_id.encode("utf-8")) % shards


_INSERT_FEED = text(
    "INSERT INTO shard_feed (shard, tx, items, created_at) "
    "VALUES (:shard, pg_current_xact_id()::text::bigint, CAST(:items AS jsonb), now())"
)

# The snapshot's xmin, but ignoring transactions that are running in *other* databases
# of the server: xids are server-wide, and another application's long transaction must
# not hold carehub's rules back. Only an xid seen running elsewhere is skipped; one that
# ended between the snapshot and the look at pg_stat_activity still counts (it may be
# ours). Backends whose xid this role may not see (other roles, without
# pg_read_all_stats) are not skipped: slower, never wrong.
_HORIZON = text(
    "SELECT coalesce(min(x::text::bigint), "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint) "
    "FROM pg_snapshot_xip(pg_current_snapshot()) AS x "
    "WHERE (x::text::bigint % 4294967296) NOT IN ("
    "SELECT backend_xid::text::bigint FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())"
)


def horizon(session: Session) -> int:
    """Every transaction of this database with an xid below this one has ended."""
    return int(session.execute(_HORIZON).scalar_one())


class FeedHook:
    """Ingest BatchHook (shard mode): one feed row per shard touched by the batch."""

    def __init__(self, shards: int) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.shards = shards

    def __call__(self, session: Session, result: BatchResult) -> None:
        """Write the batch's new events and status changes to their shards' feeds."""
        per_shard: dict[int, dict[str, list[list[Any]]]] = defaultdict(lambda: {"e": [], "s": []})
        for ev in result.stored:
            if ev.home_id is not None:
                per_shard[shard_of(ev.home_id, self.shards)]["e"].append(
                    [ev.envelope.id, ev.kind.value]
                )
        for st in result.statuses:
            if st.home_id is not None and st.state in ("online", "offline"):
                per_shard[shard_of(st.home_id, self.shards)]["s"].append(
                    [st.device_id, st.kind.value, st.home_id, st.state, st.at.isoformat()]
                )
        if per_shard:
            session.execute(
                _INSERT_FEED,
                [{"shard": s, "items": json.dumps(items)} for s, items in per_shard.items()],
            )
