"""Chaos: PostgreSQL goes away for 30 s mid-stream. The hub stops acknowledging, keeps its
memory bounded (back-pressure), retries, recovers and loses nothing."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import BrokerAddress, DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import make_engine, make_sessionmaker, unit_of_work
from hub.store.migrate import upgrade
from hub.store.models import Event
from tests.conftest import PrivatePostgres, RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_reliably, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.postgres]

N_EVENTS = 6000
OUTAGE_S = 30
QUEUE_MAX = 200


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres()
    except FileNotFoundError:
        pytest.skip("PostgreSQL server binaries are not installed")
    yield pg
    pg.stop()


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_database_outage_back_pressure_and_recovery(
    broker: RunningBroker, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(private_pg.url)
    sessions = make_sessionmaker(make_engine(private_pg.url))
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        service.add_home(s, home_id="h-db", name="h", team_id=None, actor="t", source="t")
        dev, pw = service.provision(
            s, control=ctl, kind=Kind.MOTION, home_id="h-db", actor="t", source="t"
        )
    ingest = IngestService(
        IngestConfig(
            address=broker.hub, client_id=f"dbchaos-{dev.id}", queue_max=QUEUE_MAX, batch_max=100
        ),
        sessions,
    )
    ingest.start()
    assert ingest.wait_connected()
    max_queue = 0
    acked_during_outage: list[int] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal max_queue
        while not stop_sampling.is_set():
            max_queue = max(max_queue, ingest._queue.qsize())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with TestDevice(BrokerAddress("127.0.0.1", broker.port, dev.id, pw)) as d:
            events = [d.motion_event() for _ in range(N_EVENTS)]
            topic = topics.event_topic(dev.id, "motion")
            publish_reliably(d, [(topic, p) for _, p in events[: N_EVENTS // 3]])
            wait_until(lambda: _count(sessions) >= N_EVENTS // 6, 60, "progress before outage")
            private_pg.stop()
            stored_before = ingest.stats.stored
            t0 = time.monotonic()
            publish_reliably(d, [(topic, p) for _, p in events[N_EVENTS // 3 :]])
            # Whatever reaches the hub now cannot be committed, so nothing more is acknowledged.
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t0)))
            acked_during_outage.append(ingest.stats.stored - stored_before)
            assert ingest.stats.commit_failures > 0
            private_pg.start()
        wait_until(lambda: _count(sessions) >= N_EVENTS, 180, "recovery")
    finally:
        stop_sampling.set()
        sampler.join()
        ingest.stop()
    with sessions() as s:
        stored = list(s.scalars(select(Event.id)))
    assert acked_during_outage == [0]
    assert max_queue <= QUEUE_MAX
    assert len(stored) == N_EVENTS
    assert set(stored) == {eid for eid, _ in events}
    sys.stdout.write(
        f"{N_EVENTS} events, PostgreSQL down {OUTAGE_S} s, {ingest.stats.commit_failures} failed "
        f"commits, queue peak {max_queue}/{QUEUE_MAX}, 0 lost, 0 duplicated\n"
    )
