"""Crash test: SIGKILL the hub process mid-stream; after a restart every event is stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.store.db import unit_of_work
from hub.store.models import Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_stream, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

N_EVENTS = 4000


def _start_hub(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--no-http"], env=env, stdout=fh, stderr=fh
        )


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_hub_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(
    broker: RunningBroker, sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        service.add_home(s, home_id="home-c", name="c", team_id=None, actor="t", source="t")
        dev, pw = service.provision(
            s, control=ctl, kind=Kind.MOTION, home_id="home-c", actor="t", source="t"
        )
    hub_url = f"mqtt://{broker.hub.username}:{broker.hub.password}@127.0.0.1:{broker.port}"
    env = dict(
        os.environ,
        CAREHUB_BROKER_URL=hub_url,
        CAREHUB_DATABASE_URL=db_url,
        CAREHUB_DATA_DIR=str(tmp_path / "var"),
        CAREHUB_HUB_CLIENT_ID=f"crash-hub-{uuid.uuid4().hex[:6]}",
        CAREHUB_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "hub.log"
    hub = _start_hub(env, log)
    try:
        with TestDevice(broker.device_address(dev.id, pw)) as d:
            events = [d.motion_event() for _ in range(N_EVENTS)]
            ids = {eid for eid, _ in events}
            topic = topics.event_topic(dev.id, "motion")
            # Make sure the hub's session exists before the stream starts.
            _first_id, first = events[0]

            # Until the hub has subscribed nobody receives it: repeat (same id, stored once).
            def first_stored() -> bool:
                d.publish_raw(topic, first)
                return _count(sessions) == 1

            wait_until(first_stored, 30, "hub to store the first event")
            half = N_EVENTS // 2
            publish_stream(d, [(topic, p) for _, p in events[1:half]])
            wait_until(lambda: _count(sessions) >= N_EVENTS // 4, 60, "progress before kill")
            hub.send_signal(signal.SIGKILL)
            hub.wait(10)
            killed_at = _count(sessions)
            # The stream goes on while the hub is dead: the broker queues it in the session.
            publish_stream(d, [(topic, p) for _, p in events[half:]])
            # Redeliver some events again, as a device would after a lost PUBACK.
            publish_stream(d, [(topic, p) for _, p in events[half - 50 : half + 50]])
        hub = _start_hub(env, log)
        wait_until(lambda: _count(sessions) >= N_EVENTS, 120, "all events after restart")
    finally:
        hub.terminate()
        hub.wait(15)
    with sessions() as s:
        stored = list(s.scalars(select(Event.id)))
    assert killed_at < N_EVENTS, "the kill came after the end of the stream: test proves nothing"
    assert len(stored) == N_EVENTS
    assert set(stored) == ids
