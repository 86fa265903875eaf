"""Shard leases and the feed horizon on a real PostgreSQL (no broker, no processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.shards import leases
from hub.shards.feed import horizon, shard_of
from hub.store.db import make_engine, make_sessionmaker, unit_of_work
from hub.store.migrate import upgrade
from tests import conftest

pytestmark = [pytest.mark.postgres]

TTL = 30.0


@pytest.fixture
def pg() -> Iterator[sessionmaker[Session]]:
    if not conftest._PG:
        conftest._skip_or_fail_pg()
    url = conftest.create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(url)
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
        conftest.drop_pg_database(url)


def _expire(sessions: sessionmaker[Session], shard: int) -> None:
    with unit_of_work(sessions) as s:
        s.execute(
            text(
                "UPDATE shard_leases SET expires_at = now() - interval '1 second' WHERE shard = :s"
            ),
            {"s": shard},
        )


def test_a_live_lease_is_not_taken_and_an_expired_one_moves_with_a_new_epoch(
    pg: sessionmaker[Session],
) -> None:
    with unit_of_work(pg) as s:
        leases.ensure_leases(s, shards=4)
        got_a = leases.acquire(s, me="a", ttl_s=TTL, k=4)
    assert [x.shard for x in got_a] == [0, 1, 2, 3]
    with unit_of_work(pg) as s:
        assert leases.acquire(s, me="b", ttl_s=TTL, k=4) == []
        assert leases.fence_position(s, me="a", shard=2, epoch=got_a[2].epoch, position=7)
    _expire(pg, 2)
    with unit_of_work(pg) as s:
        got_b = leases.acquire(s, me="b", ttl_s=TTL, k=4)
    assert [(x.shard, x.epoch, x.position) for x in got_b] == [(2, got_a[2].epoch + 1, 7)]
    with unit_of_work(pg) as s:
        # The old owner is fenced off: its writes match nothing, its renewal drops the shard.
        assert not leases.fence_position(s, me="a", shard=2, epoch=got_a[2].epoch, position=9)
        assert 2 not in leases.renew(s, me="a", ttl_s=TTL)
        assert leases.fence_position(s, me="b", shard=2, epoch=got_b[0].epoch, position=9)


def test_an_owner_mid_transaction_keeps_its_shard_until_it_commits(
    pg: sessionmaker[Session],
) -> None:
    with unit_of_work(pg) as s:
        leases.ensure_leases(s, shards=1)
        (lease,) = leases.acquire(s, me="a", ttl_s=TTL, k=1)
    _expire(pg, 0)
    owner = pg()
    try:
        assert leases.fence_position(owner, me="a", shard=0, epoch=lease.epoch, position=5)
        with unit_of_work(pg) as s:  # the row is locked by the owner's transaction: skipped
            assert leases.acquire(s, me="b", ttl_s=TTL, k=1) == []
        owner.commit()
    finally:
        owner.close()
    with unit_of_work(pg) as s:
        (taken,) = leases.acquire(s, me="b", ttl_s=TTL, k=1)
    assert taken.position == 5  # what the old owner committed, the new one starts after


def test_release_and_a_different_shard_count_are_refused(pg: sessionmaker[Session]) -> None:
    with unit_of_work(pg) as s:
        leases.ensure_leases(s, shards=2)
        (lease, _) = leases.acquire(s, me="a", ttl_s=TTL, k=2)
        assert leases.release(s, me="a", shard=lease.shard, epoch=lease.epoch)
        assert [x.shard for x in leases.acquire(s, me="b", ttl_s=TTL, k=2)] == [0]
    with unit_of_work(pg) as s, pytest.raises(leases.ShardConfigError):
        leases.ensure_leases(s, shards=3)


def test_the_feed_horizon_waits_for_a_transaction_that_commits_late(
    pg: sessionmaker[Session],
) -> None:
    insert = text(
        "INSERT INTO shard_feed (shard, tx, items, created_at) "
        "VALUES (0, pg_current_xact_id()::text::bigint, '{}'::jsonb, now()) RETURNING tx"
    )
    early = pg()
    try:
        slow_tx = int(early.execute(insert).scalar_one())  # begun first, commits last
        with unit_of_work(pg) as s:
            fast_tx = int(s.execute(insert).scalar_one())
        assert fast_tx > slow_tx
        with pg() as s:
            # The fast row is committed, but reading it now would move a position past the
            # slow one: the horizon keeps both out until the slow one has ended.
            assert horizon(s) <= slow_tx
        early.commit()
    finally:
        early.close()
    # xids are server-wide: other databases' writers may hold the horizon back a moment.
    deadline = time.monotonic() + 30
    while True:
        with pg() as s:
            if horizon(s) > fast_tx:
                break
        assert time.monotonic() < deadline, "horizon never passed the committed rows"
        time.sleep(0.05)


def test_shard_of_is_stable_and_in_range() -> None:
    assert shard_of("home-0001", 16) == shard_of("home-0001", 16)
    assert {shard_of(f"home-{i:04d}", 16) for i in range(500)} == set(range(16))


def test_a_long_transaction_in_another_database_does_not_hold_the_rules_back(
    pg: sessionmaker[Session],
) -> None:
    other_url = conftest.create_pg_database()
    other = make_engine(other_url)
    try:
        with other.connect() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
            conn.commit()
            conn.execute(text("INSERT INTO t VALUES (1)"))  # holds an xid, left open
            with unit_of_work(pg) as s:
                tx = int(
                    s.execute(
                        text(
                            "INSERT INTO shard_feed (shard, tx, items, created_at) VALUES "
                            "(0, pg_current_xact_id()::text::bigint, '{}'::jsonb, now()) "
                            "RETURNING tx"
                        )
                    ).scalar_one()
                )
            deadline = time.monotonic() + 30
            while True:
                with pg() as s:
                    if horizon(s) > tx:
                        break
                assert time.monotonic() < deadline, "another database held the horizon"
                time.sleep(0.05)
            conn.rollback()
    finally:
        other.dispose()
        conftest.drop_pg_database(other_url)
