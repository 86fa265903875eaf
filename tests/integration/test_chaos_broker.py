"""Chaos: the broker restarts mid-stream (persistence on); every event is stored once."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import BrokerAddress, DynSecClient
from hub.broker.embedded import EmbeddedBroker, free_port
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import unit_of_work
from hub.store.models import Event
from tests.integration.mqtt_helpers import TestDevice, publish_reliably, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

N_EVENTS = 3000


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_broker_restart_mid_stream_stores_every_event_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    broker = EmbeddedBroker(tmp_path / "mq", port=free_port())
    sec = broker.start()
    ingest = IngestService(
        IngestConfig(address=broker.hub_address(sec), client_id=f"chaos-{uuid.uuid4().hex[:6]}"),
        sessions,
    )
    try:
        with unit_of_work(sessions) as s, DynSecClient(broker.admin_address(sec)) as ctl:
            service.add_home(s, home_id="h", name="h", team_id=None, actor="t", source="t")
            dev, pw = service.provision(
                s, control=ctl, kind=Kind.MOTION, home_id="h", actor="t", source="t"
            )
        ingest.start()
        assert ingest.wait_connected()
        device = TestDevice(BrokerAddress("127.0.0.1", broker.port, dev.id, pw))
        with device:
            events = [device.motion_event() for _ in range(N_EVENTS)]
            topic = topics.event_topic(dev.id, "motion")
            msgs = [(topic, p) for _, p in events]
            restarted = threading.Event()

            def restart_when_busy() -> None:
                wait_until(lambda: _count(sessions) >= N_EVENTS // 4, 60, "progress")
                broker.stop()  # SIGTERM: Mosquitto writes its persistence file
                time.sleep(1.0)
                broker.start()
                restarted.set()

            chaos = threading.Thread(target=restart_when_busy)
            chaos.start()
            resent = publish_reliably(device, msgs, timeout=180)
            chaos.join(90)
        assert restarted.is_set()
        wait_until(lambda: _count(sessions) >= N_EVENTS, 120, "every event stored")
        with sessions() as s:
            stored = list(s.scalars(select(Event.id)))
        assert len(stored) == N_EVENTS
        assert set(stored) == {eid for eid, _ in events}
        sys.stdout.write(
            f"{N_EVENTS} events, broker restarted once, {resent} re-sent, 0 lost, 0 duplicated\n"
        )
    finally:
        ingest.stop()
        broker.stop()
