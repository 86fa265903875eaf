"""Several hubs on one PostgreSQL and one Mosquitto (shared subscription), shards by home.

Three real `carehub serve` processes split the device messages through `$share/...` and
the homes' rule state through shard leases. One hub is killed with SIGKILL mid-stream:
its shards move to the others within the lease bound, it comes back and drains its
session, and in the end every event is stored once and every missed dose raised its
alert exactly once (the open alert's repeat count equals the incidents).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.kinds import Kind
from devices.payloads import DoseMissed, Heartbeat
from hub.alerts.models import Alert
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.rules.model import Rule
from hub.shards.models import ShardLease
from hub.store.db import make_engine, make_sessionmaker, unit_of_work
from hub.store.migrate import upgrade
from hub.store.models import Client, Event
from tests import conftest
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_stream, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

HOMES = 6
SHARDS = 8
HUBS = 3
LEASE_TTL_S = 3.0
LEASE_RENEW_S = 1.0
# Incidents: each a distinct dose moment, so each raises (or repeats) the client's open
# missed-dose alert. A reported miss waits the care plan's late grace on a timer (event
# time, then the owner's clock), so these alerts also cross the hand-over as timers.
MISSED_PER_HOME = 6
FILLER_PER_HOME = 150  # heartbeats between them


@pytest.fixture
def pg_sessions() -> Iterator[tuple[str, sessionmaker[Session]]]:
    if not conftest._PG:
        conftest._skip_or_fail_pg()
    url = conftest.create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(url)
        yield url, make_sessionmaker(engine)
    finally:
        engine.dispose()
        if not os.environ.get("CAREHUB_TEST_KEEP_DB"):
            conftest.drop_pg_database(url)


def _hub(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--no-http", "--no-migrate"],
            env=env,
            stdout=fh,
            stderr=fh,
        )


def _owners(sessions: sessionmaker[Session]) -> dict[int, str | None]:
    """Shard → owner, counting only leases that have not expired."""
    with sessions() as s:
        rows = s.execute(
            select(ShardLease.shard, ShardLease.owner).where(ShardLease.expires_at > func.now())
        ).all()
        return {int(r[0]): r[1] for r in rows}


def _events(sessions: sessionmaker[Session], devices: list[str]) -> int:
    with sessions() as s:
        q = select(func.count()).select_from(Event).where(Event.device_id.in_(devices))
        return int(s.scalar(q) or 0)


def _feed_done(sessions: sessionmaker[Session]) -> bool:
    """Every shard's owner has processed every feed row written so far."""
    with sessions() as s:
        behind = s.scalar(
            text(
                "SELECT count(*) FROM shard_feed f JOIN shard_leases l ON l.shard = f.shard "
                "WHERE f.tx > l.position"
            )
        )
        return int(behind or 0) == 0


def _missed(sessions: sessionmaker[Session], clients: list[str]) -> dict[str, list[int]]:
    """Client → repeat counts of its missed-dose alerts (one open alert expected)."""
    out: dict[str, list[int]] = {c: [] for c in clients}
    with sessions() as s:
        for a in s.scalars(
            select(Alert).where(Alert.rule == Rule.MISSED_DOSE.value, Alert.client_id.in_(clients))
        ):
            out[a.client_id].append(a.count)
    return out


def _stream(dev: TestDevice, home_no: int) -> list[tuple[str, bytes]]:
    """Heartbeats with a missed dose every FILLER/MISSED heartbeats, event times 'now'."""
    msgs: list[tuple[str, bytes]] = []
    start = datetime.now(UTC) - timedelta(minutes=5)
    step = FILLER_PER_HOME // MISSED_PER_HOME
    for i in range(FILLER_PER_HOME):
        ts = start + timedelta(milliseconds=100 * len(msgs))
        dev.seq += 1
        msgs.append(
            (
                topics.event_topic(dev.device_id, "heartbeat"),
                envelope.encode(
                    id=str(uuid.uuid4()),
                    device_id=dev.device_id,
                    ts=ts,
                    seq=dev.seq,
                    type="heartbeat",
                    data=Heartbeat(uptime_s=i),
                ),
            )
        )
        if i % step == step - 1:
            n = i // step
            dev.seq += 1
            sched = (start - timedelta(hours=n + 1)).replace(microsecond=0)
            msgs.append(
                (
                    topics.event_topic(dev.device_id, "dose.missed"),
                    envelope.encode(
                        id=str(uuid.uuid4()),
                        device_id=dev.device_id,
                        ts=ts,
                        seq=dev.seq,
                        type="dose.missed",
                        data=DoseMissed(dose_id=f"d{n:02d}", scheduled_for=sched, window_min=30),
                    ),
                )
            )
    return msgs


def test_killed_hub_hands_its_homes_over_and_no_alert_is_lost_or_doubled(
    broker: RunningBroker, pg_sessions: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    url, sessions = pg_sessions
    tag = uuid.uuid4().hex[:6]
    devices: list[tuple[str, str]] = []
    clients: list[str] = []
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        for i in range(HOMES):
            home = f"mh-{tag}-{i}"
            service.add_home(s, home_id=home, name=home, team_id=None, actor="t", source="t")
            s.add(
                Client(
                    id=f"cl-{tag}-{i}",
                    display_name=f"Client {i}",
                    home_id=home,
                    created_at=datetime.now(UTC),
                )
            )
            clients.append(f"cl-{tag}-{i}")
            dev, pw = service.provision(
                s, control=ctl, kind=Kind.DISPENSER, home_id=home, actor="t", source="t"
            )
            devices.append((dev.id, pw))
    device_ids = [d for d, _ in devices]

    hub_url = f"mqtt://{broker.hub.username}:{broker.hub.password}@127.0.0.1:{broker.port}"
    base = dict(
        os.environ,
        CAREHUB_BROKER_URL=hub_url,
        CAREHUB_DATABASE_URL=url,
        CAREHUB_SHARE_GROUP=f"mh{tag}",
        CAREHUB_SHARDS=str(SHARDS),
        CAREHUB_LEASE_TTL_S=str(LEASE_TTL_S),
        CAREHUB_LEASE_RENEW_S=str(LEASE_RENEW_S),
        CAREHUB_SHARD_POLL_MS="100",
        CAREHUB_SHARD_TICK_S="2",
        CAREHUB_LOG_LEVEL="INFO",
    )
    envs = [
        dict(
            base, CAREHUB_HUB_CLIENT_ID=f"mh-{tag}-hub{i}", CAREHUB_DATA_DIR=str(tmp_path / f"v{i}")
        )
        for i in range(HUBS)
    ]
    logs = [tmp_path / f"hub{i}.log" for i in range(HUBS)]
    hubs = [_hub(envs[i], logs[i]) for i in range(HUBS)]
    names = [e["CAREHUB_HUB_CLIENT_ID"] for e in envs]
    try:
        # Every shard owned, by all three hubs (fair share: at most ceil(8/3) = 3 each).
        def balanced() -> bool:
            owners = _owners(sessions)
            held = [list(owners.values()).count(n) for n in names]
            return len(owners) == SHARDS and all(1 <= h <= 3 for h in held)

        wait_until(balanced, 40, "three hubs sharing the shards")

        streams: list[list[tuple[str, bytes]]] = []
        with_devices = [TestDevice(broker.device_address(d, pw)) for d, pw in devices]
        for d in with_devices:
            d.__enter__()
        try:
            streams = [_stream(d, i) for i, d in enumerate(with_devices)]
            half = [len(st) // 2 for st in streams]
            for d, st, h in zip(with_devices, streams, half, strict=True):
                publish_stream(d, st[:h])
            victim_shards = {s for s, o in _owners(sessions).items() if o == names[0]}
            assert victim_shards
            hubs[0].send_signal(signal.SIGKILL)
            hubs[0].wait(10)
            killed = time.monotonic()

            def moved() -> bool:
                owners = _owners(sessions)
                return all(owners.get(s) in names[1:] for s in victim_shards)

            wait_until(moved, 60, "the killed hub's shards to move")
            moved_after = time.monotonic() - killed
            # The bound: the lease expires after its TTL and a survivor looks every renew
            # interval; rebuilding a shard and a busy machine get a generous margin.
            assert moved_after < LEASE_TTL_S + LEASE_RENEW_S + 20, moved_after

            for d, st, h in zip(with_devices, streams, half, strict=True):
                publish_stream(d, st[h:])
        finally:
            for d in with_devices:
                d.__exit__()

        # The killed hub comes back (as a supervisor restarts it): its persistent session
        # gives it what it had received but not acknowledged; it rejoins the shard pool.
        hubs[0] = _hub(envs[0], logs[0])
        total = sum(len(st) for st in streams)
        wait_until(lambda: _events(sessions, device_ids) == total, 60, "every event stored")

        def settled() -> bool:
            owners = _owners(sessions)
            counts = _missed(sessions, clients)
            return (
                len(owners) == SHARDS
                and _feed_done(sessions)
                and all(sum(c) >= MISSED_PER_HOME for c in counts.values())
            )

        try:
            wait_until(settled, 60, "rules to catch up with the stored events")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}: owners {_owners(sessions)}, feed done {_feed_done(sessions)}, "
                f"missed-dose counts {_missed(sessions, clients)}"
            ) from None
        time.sleep(LEASE_RENEW_S * 2)  # a late duplicate would show now
        assert _feed_done(sessions)
        assert _events(sessions, device_ids) == total
        counts = _missed(sessions, clients)
        assert counts == {c: [MISSED_PER_HOME] for c in clients}, counts
    finally:
        for p in hubs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in hubs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
