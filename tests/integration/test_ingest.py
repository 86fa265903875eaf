"""The event backbone end to end: real Mosquitto, real ingest, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import unit_of_work
from hub.store.models import DeadLetter, Device, Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_stream, wait_until

pytestmark = pytest.mark.broker


@dataclass
class Hub:
    broker: RunningBroker
    sessions: sessionmaker[Session]
    ingest: IngestService

    def provision(self, kind: Kind = Kind.MOTION, home_id: str = "home-1") -> TestDevice:
        with unit_of_work(self.sessions) as s, DynSecClient(self.broker.admin) as ctl:
            if s.get(service.Home, home_id) is None:
                service.add_home(
                    s, home_id=home_id, name=home_id, team_id=None, actor="test", source="test"
                )
            dev, pw = service.provision(
                s, control=ctl, kind=kind, home_id=home_id, actor="test", source="test"
            )
        return TestDevice(self.broker.device_address(dev.id, pw))

    def count(self, model: type, **where: object) -> int:
        with self.sessions() as s:
            stmt = select(func.count()).select_from(model)
            for k, v in where.items():
                col = getattr(model, k)
                stmt = stmt.where(col.in_(v) if isinstance(v, list | tuple | set) else col == v)
            return int(s.scalar(stmt) or 0)


@pytest.fixture(params=["process", "thread"], ids=["receiver-process", "receiver-thread"])
def hub(
    broker: RunningBroker, sessions: sessionmaker[Session], request: pytest.FixtureRequest
) -> Iterator[Hub]:
    cfg = IngestConfig(
        address=broker.hub,
        client_id=f"hub-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:6]}",
        max_payload_bytes=4096,
        receiver=request.param,
    )
    ingest = IngestService(cfg, sessions)
    ingest.start()
    assert ingest.wait_connected(), "ingest did not connect"
    yield Hub(broker, sessions, ingest)
    ingest.stop()


def test_event_is_stored_exactly_once_even_when_published_twice(hub: Hub) -> None:
    with hub.provision() as dev:
        eid, payload = dev.motion_event()
        topic = topics.event_topic(dev.device_id, "motion")
        dev.publish_raw(topic, payload)
        dev.publish_raw(topic, payload)
        other = dev.send_motion()
        wait_until(lambda: hub.count(Event) == 2 and hub.ingest.stats.received >= 3, what="events")
    assert hub.count(Event, id=eid) == 1
    assert hub.count(Event, id=other) == 1
    assert hub.ingest.stats.duplicates >= 1
    with hub.sessions() as s:
        stored = s.get(Event, eid)
        assert stored is not None
        assert stored.home_id == "home-1"
        assert stored.data == {"room": "kitchen"}
        device = s.get(Device, dev.device_id)
        assert device is not None
        assert device.last_seen is not None
        assert device.status == "online"


def test_device_cannot_publish_on_another_devices_topic(hub: Hub) -> None:
    with hub.provision() as a, hub.provision() as b:
        # A's credentials, B's topic, B's id in the envelope: a forgery.
        forged_id = str(uuid.uuid4())
        _eid, payload = b.motion_event(event_id=forged_id)
        rc = a.publish_raw(topics.event_topic(b.device_id, "motion"), payload)
        assert rc.is_failure
        assert rc.value == 0x87
        # and A may not send itself commands either
        rc = a.publish_raw(topics.command_topic(a.device_id, "schedule"), b"{}")
        assert rc.is_failure
        marker = a.send_motion()
        wait_until(lambda: hub.count(Event, id=marker) == 1, what="marker event")
    assert hub.count(Event, id=forged_id) == 0
    # (the session broker may deliver retained statuses of other tests' devices: not ours)
    assert hub.count(DeadLetter, device_id=[a.device_id, b.device_id]) == 0


def test_bad_input_is_dead_lettered_with_reason_while_valid_traffic_continues(hub: Hub) -> None:
    with hub.provision() as dev:
        t = topics.event_topic(dev.device_id, "motion")
        good1 = dev.send_motion()
        dev.publish_raw(t, b"not json at all \xff")
        dev.publish_raw(t, json.dumps({"id": "x" * 10, "device_id": dev.device_id}).encode())
        _e, wrong = dev.motion_event()
        body = json.loads(wrong)
        body["data"] = {"room": "attic"}
        dev.publish_raw(t, json.dumps(body).encode())
        dev.publish_raw(t, b"{" + b" " * 5000 + b"}")
        dev.publish_raw(topics.event_topic(dev.device_id, "dose.taken"), dev.motion_event()[1])
        good2 = dev.send_motion()
        wait_until(
            lambda: hub.count(DeadLetter, device_id=dev.device_id) == 5 and hub.count(Event) == 2,
            what="dead letters",
        )
    with hub.sessions() as s:
        mine = select(DeadLetter).where(DeadLetter.device_id == dev.device_id)
        reasons = [d.reason for d in s.scalars(mine.order_by(DeadLetter.id))]
        raw = s.scalars(mine.order_by(DeadLetter.id)).first()
        raw = raw.payload if raw is not None else None
    assert reasons[0].startswith("envelope:")
    assert "json" in reasons[0].lower()
    assert any("Field required" in r for r in reasons)
    assert any("data (motion): room" in r for r in reasons)
    assert any(r.startswith("oversized") for r in reasons)
    assert any("does not match topic type" in r for r in reasons)
    assert raw == b"not json at all \xff"
    assert hub.count(Event, id=good1) == 1
    assert hub.count(Event, id=good2) == 1


def test_unknown_device_is_dead_lettered(hub: Hub, broker: RunningBroker) -> None:
    # An account that exists on the broker but not in the hub's registry.
    ghost_id = f"ghost-{uuid.uuid4().hex[:8]}"
    with DynSecClient(broker.admin) as ctl:
        ctl.add_device(ghost_id, "pw-ghost")
    with TestDevice(broker.device_address(ghost_id, "pw-ghost")) as ghost:
        ghost.send_motion()
    wait_until(lambda: hub.count(DeadLetter, device_id=ghost_id) == 1, what="dead letter")
    with hub.sessions() as s:
        reason = s.scalar(select(DeadLetter.reason).where(DeadLetter.device_id == ghost_id))
    assert reason is not None
    assert "unknown or revoked device" in reason


def test_last_will_marks_device_offline(hub: Hub) -> None:
    dev = hub.provision()
    with dev:
        dev.publish_raw(topics.status_topic(dev.device_id), b'{"state":"online"}', retain=True)
        wait_until(lambda: hub.count(Device, id=dev.device_id, status="online") == 1, what="online")
        # Drop the TCP connection without DISCONNECT: the broker publishes the Last Will.
        sock = dev.client.socket()
        assert sock is not None
        dev.client.loop_stop()
        sock.close()
        wait_until(
            lambda: hub.count(Device, id=dev.device_id, status="offline") == 1,
            timeout=15,
            what="offline by Last Will",
        )


def test_revoked_device_is_disconnected_and_refused(hub: Hub, broker: RunningBroker) -> None:
    dev = hub.provision()
    with dev:
        dev.send_motion()
        with unit_of_work(hub.sessions) as s, DynSecClient(broker.admin) as ctl:
            service.revoke(s, control=ctl, device_id=dev.device_id, actor="test", source="test")
        wait_until(lambda: not dev.connected.is_set(), what="disconnect by the broker")
    again = TestDevice(dev.address)
    with pytest.raises(RuntimeError, match="could not connect"):
        again.__enter__()
    again.client.loop_stop()


@pytest.mark.parametrize(
    ("receiver", "coalesce"),
    [("process", True), ("process", False), ("thread", True), ("thread", False)],
    ids=["process-one-write-acks", "process-ack-each", "thread-one-write-acks", "thread-ack-each"],
)
def test_acknowledged_batches_are_not_redelivered_to_the_next_session(
    broker: RunningBroker,
    sessions: sessionmaker[Session],
    receiver: Literal["process", "thread"],
    coalesce: bool,
) -> None:
    """The batch's PUBACKs reach the broker: a restarted hub (same persistent session) gets
    nothing again, only what was published after."""
    cfg = IngestConfig(
        address=broker.hub,
        client_id=f"hub-ack-{uuid.uuid4().hex[:8]}",
        coalesce_acks=coalesce,
        receiver=receiver,
    )
    first = IngestService(cfg, sessions)
    first.start()
    assert first.wait_connected()
    hub = Hub(broker, sessions, first)
    with hub.provision(home_id=f"home-{uuid.uuid4().hex[:6]}") as dev:
        topic = topics.event_topic(dev.device_id, "motion")
        msgs = [dev.motion_event() for _ in range(1200)]  # several batches of at most 500
        publish_stream(dev, [(topic, payload) for _eid, payload in msgs])
        ids = [eid for eid, _p in msgs]
        wait_until(lambda: hub.count(Event, id=ids) == len(ids), 60, "the first 1200 events")
        first.stop()
        assert first.stats.batches >= 3
        second = IngestService(cfg, sessions)
        second.start()
        try:
            assert second.wait_connected()
            marker = dev.send_motion()  # queued behind any redelivery
            wait_until(lambda: hub.count(Event, id=marker) == 1, 30, "the marker event")
            wait_until(lambda: second.stats.received >= 1, 10, "the marker's batch counted")
        finally:
            second.stop()
    # A redelivered event would be a duplicate of a stored one. (The shared test broker also
    # hands the new subscription other tests' retained status messages: not counted here.)
    assert second.stats.duplicates == 0
    assert second.stats.stored == 1
