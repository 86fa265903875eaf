"""End to end: a dispenser's missed dose through the real broker reaches an SSE client."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from alerts_helpers import T0
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_alerts_api import _free_port, make_app

from devices import topics
from devices.envelope import encode
from devices.kinds import Kind
from devices.payloads import DoseMissed
from hub.alerts.broadcast import broadcaster
from hub.broker.dynsec import DynSecClient
from hub.devices import service as devices
from hub.ingest.service import IngestConfig, IngestService
from hub.rules.live import RulesHook
from hub.store.db import unit_of_work
from hub.store.models import Client, Event, Team
from hub.tasks.models import Task
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice

pytestmark = pytest.mark.broker


@pytest.mark.timeout(120)
def test_missed_dose_published_to_the_broker_reaches_an_sse_client(
    broker: RunningBroker, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        s.add(Team(id="wijk-zuid", name="Wijkteam Zuid", kind="day", created_at=T0))
        s.flush()
        devices.add_home(
            s, home_id="h-e2e", name="Thuis", team_id="wijk-zuid", actor="t", source="t"
        )
        s.add(
            Client(id="c-e2e", display_name="Annie Proef (fictief)", home_id="h-e2e", created_at=T0)
        )
        dev, pw = devices.provision(
            s, control=ctl, kind=Kind.DISPENSER, home_id="h-e2e", actor="t", source="t"
        )
    cfg = IngestConfig(
        address=broker.hub,
        client_id=f"hub-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:6]}",
    )
    # The live clock, which the test moves on past the missed dose's late grace.
    clock = [datetime.now(UTC)]
    rules = RulesHook(clock=lambda: clock[0])
    ingest = IngestService(cfg, sessions, hooks=[rules])
    ingest.start()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(sessions), host="127.0.0.1", port=port, log_level="warning")
    )
    web = threading.Thread(target=server.run, daemon=True)
    web.start()
    try:
        assert ingest.wait_connected(), "ingest did not connect"
        while not server.started:
            time.sleep(0.05)
        with (
            httpx.Client(timeout=30) as http,
            http.stream("GET", f"http://127.0.0.1:{port}/api/v1/alerts/stream") as resp,
        ):
            lines = resp.iter_lines()
            assert next(lines) == ": connected"
            while broadcaster.subscribers() == 0:
                time.sleep(0.01)
            sched = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=45)
            event_id = f"e2e-{uuid.uuid4().hex[:12]}"
            payload = encode(
                id=event_id,
                device_id=dev.id,
                ts=datetime.now(UTC),
                seq=1,
                type="dose.missed",
                data=DoseMissed(dose_id="d0800", scheduled_for=sched, window_min=45),
            )
            with TestDevice(broker.device_address(dev.id, pw)) as d:
                d.publish_raw(topics.event_topic(dev.id, "dose.missed"), payload)
            # The engine waits the care plan's late grace for a late take, then alerts.
            deadline = time.monotonic() + 30
            while True:
                with unit_of_work(sessions) as s:
                    if s.get(Event, event_id) is not None:
                        break
                assert time.monotonic() < deadline, "event not stored"
                time.sleep(0.05)
            clock[0] = datetime.now(UTC) + timedelta(minutes=10)
            with unit_of_work(sessions) as s:
                rules.tick(s)
            msg = None
            for line in lines:
                if line.startswith("data: "):
                    msg = json.loads(line[6:])
                    break
        assert msg is not None
        assert msg["action"] == "raised"
        assert (msg["alert"]["client_id"], msg["alert"]["rule"]) == ("c-e2e", "missed_dose")
        assert msg["alert"]["team_id"] == "wijk-zuid"  # no night team: the home's team
        with unit_of_work(sessions) as s:  # and a follow-up task for the team
            (task,) = s.scalars(select(Task).where(Task.client_id == "c-e2e")).all()
            assert (task.kind, task.team_id, task.source_alert_id) == (
                "dose_follow_up",
                "wijk-zuid",
                msg["alert"]["id"],
            )
    finally:
        server.should_exit = True
        web.join(10)
        ingest.stop()
