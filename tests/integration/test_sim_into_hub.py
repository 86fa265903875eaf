"""Virtual homes through the real broker land in the hub's store event for event."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import unit_of_work
from hub.store.models import DeadLetter, Event
from simulators.mqtt_sink import MqttSink
from simulators.stream import FaultConfig, Simulation
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_simulated_day_with_faults_is_stored_event_for_event(
    broker: RunningBroker, sessions: sessionmaker[Session]
) -> None:
    sim = Simulation(
        homes=1,
        days=1,
        seed=4242,
        start=date(2026, 10, 24),
        faults=FaultConfig(duplicate_rate=0.02, malformed_rate=0.01),
    )
    home = sim.homes[0]
    suffix = uuid.uuid4().hex[:4]  # the session broker outlives this test's database
    home_id = f"{home.home_id}-{suffix}"
    passwords: dict[str, str] = {}
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        service.add_home(s, home_id=home_id, name="sim", team_id=None, actor="t", source="t")
        for spec in home.devices:
            try:
                ctl.remove_device(spec.device_id)
            except Exception:  # noqa: BLE001 - not there yet: the usual case
                pass
            _dev, pw = service.provision(
                s,
                control=ctl,
                kind=spec.kind,
                home_id=home_id,
                actor="t",
                source="t",
                device_id=spec.device_id,
            )
            passwords[spec.device_id] = pw
    ingest = IngestService(IngestConfig(address=broker.hub, client_id=f"simhub-{suffix}"), sessions)
    ingest.start()
    assert ingest.wait_connected()
    sink = MqttSink(host="127.0.0.1", port=broker.port, passwords=passwords, max_connections=6)
    try:
        sent = list(sim.messages())
        for msg in sent:
            sink.publish(msg)
    finally:
        sink.close()
    expected = {m.body["event"]["id"] for m in sent if "event" in m.body}
    malformed = sum(1 for m in sent if m.body.get("malformed"))
    assert malformed > 0, "the fault mix should include malformed payloads"

    def count(model: type) -> int:
        with sessions() as s:
            q = select(func.count()).select_from(model)
            if model is DeadLetter:
                q = q.where(DeadLetter.device_id.in_(list(passwords)))
            return int(s.scalar(q) or 0)

    try:
        wait_until(
            lambda: count(Event) >= len(expected) and count(DeadLetter) >= malformed,
            60,
            "the simulated day in the store",
        )
    finally:
        ingest.stop()
    with sessions() as s:
        stored = list(s.scalars(select(Event.id)))
    assert len(stored) == len(set(stored)) == len(expected)  # duplicates published, stored once
    assert set(stored) == expected
    assert count(DeadLetter) == malformed
    json.dumps(sorted(stored))  # ids are plain strings (they round-trip the JSON log)
