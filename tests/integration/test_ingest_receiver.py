"""The ingest's receiver process: replaced when it dies, gone when the hub dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import unit_of_work
from hub.store.models import Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_stream, wait_until

pytestmark = pytest.mark.broker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (its parent has not reaped it yet)
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def _device(broker: RunningBroker, sessions: sessionmaker[Session]) -> TestDevice:
    home = f"home-{uuid.uuid4().hex[:6]}"
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        service.add_home(s, home_id=home, name=home, team_id=None, actor="test", source="test")
        dev, pw = service.provision(
            s, control=ctl, kind=Kind.MOTION, home_id=home, actor="test", source="test"
        )
    return TestDevice(broker.device_address(dev.id, pw))


def _stored(sessions: sessionmaker[Session], ids: list[str]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Event).where(Event.id.in_(ids))) or 0)


def test_a_killed_receiver_is_replaced_and_no_event_is_lost_or_stored_twice(
    broker: RunningBroker, sessions: sessionmaker[Session]
) -> None:
    cfg = IngestConfig(address=broker.hub, client_id=f"hub-rx-{uuid.uuid4().hex[:8]}")
    ingest = IngestService(cfg, sessions)
    ingest.start()
    try:
        assert ingest.wait_connected()
        first = ingest.receiver_pid
        assert first is not None
        assert _alive(first)
        with _device(broker, sessions) as dev:
            topic = topics.event_topic(dev.device_id, "motion")
            msgs = [dev.motion_event() for _ in range(3000)]
            ids = [eid for eid, _p in msgs]
            sender = threading.Thread(
                target=publish_stream, args=(dev, [(topic, p) for _e, p in msgs])
            )
            sender.start()
            wait_until(lambda: _stored(sessions, ids) >= 500, 60, "the first events")
            os.kill(first, signal.SIGKILL)  # mid-stream: some received, not yet acked
            sender.join(120)
            wait_until(lambda: _stored(sessions, ids) == len(ids), 120, "every event")
            second = ingest.receiver_pid
            assert second is not None
            assert second != first
            assert _alive(second)
            assert not _alive(first)
            wait_until(ingest.wait_connected, 30, "the new receiver's connection")
    finally:
        ingest.stop()
    with sessions() as s:
        rows = s.scalar(select(func.count()).select_from(Event).where(Event.id.in_(ids)))
        distinct = s.scalar(select(func.count(func.distinct(Event.id))).where(Event.id.in_(ids)))
    assert rows == distinct == 3000
    assert ingest.stats.stored == 3000  # redeliveries were absorbed as duplicates


def test_the_receiver_ends_when_the_hub_process_is_killed(
    broker: RunningBroker, tmp_path: object
) -> None:
    """A SIGKILLed hub leaves no receiver behind (it would hold the hub's MQTT session)."""
    a = broker.hub
    script = textwrap.dedent(
        f"""
        import sys, time
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker
        from hub.broker.dynsec import BrokerAddress
        from hub.ingest.service import IngestConfig, IngestService
        cfg = IngestConfig(
            address=BrokerAddress({a.host!r}, {a.port}, {a.username!r}, {a.password!r}),
            client_id="hub-orphan-{uuid.uuid4().hex[:8]}",
        )
        ingest = IngestService(cfg, sessionmaker(create_engine("sqlite://")))
        ingest.start()
        assert ingest.wait_connected()
        print(ingest.receiver_pid, flush=True)
        time.sleep(600)
        """
    )
    hub = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert hub.stdout is not None
        line = hub.stdout.readline().strip()
        assert line.isdigit(), f"the hub printed {line!r}"
        receiver = int(line)
        assert _alive(receiver)
        hub.kill()
        hub.wait(10)
        deadline = time.monotonic() + 15
        while _alive(receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(receiver), "the receiver outlived the hub"
    finally:
        if hub.poll() is None:
            hub.kill()
