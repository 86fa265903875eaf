"""Chaos: a flood of hostile payloads interleaved with valid traffic, through the real broker.

Every valid event is stored once, every bad message is dead-lettered with a reason, and the
ingest keeps running (no restart, no crash) throughout.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.kinds import Kind
from hub.broker.dynsec import DynSecClient
from hub.devices import service
from hub.ingest.service import IngestConfig, IngestService
from hub.store.db import unit_of_work
from hub.store.models import DeadLetter, Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, publish_stream, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


hostile = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(str.encode),
    st.integers(min_value=10, max_value=100_000).map(_deep),
    st.integers(min_value=17_000, max_value=400_000).map(lambda n: b'{"a":"' + b"x" * n + b'"}'),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=30,
    ).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture
def flood_setup(
    broker: RunningBroker, sessions: sessionmaker[Session]
) -> Iterator[tuple[IngestService, TestDevice, TestDevice]]:
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        service.add_home(s, home_id="h-flood", name="h", team_id=None, actor="t", source="t")
        dev, pw = service.provision(
            s, control=ctl, kind=Kind.DOOR, home_id="h-flood", actor="t", source="t"
        )
        stranger_id = f"stranger-{uuid.uuid4().hex[:6]}"
        ctl.add_device(stranger_id, "pw-stranger")  # on the broker, not in the registry
    ingest = IngestService(IngestConfig(address=broker.hub, client_id=f"flood-{dev.id}"), sessions)
    ingest.start()
    assert ingest.wait_connected()
    with (
        TestDevice(broker.device_address(dev.id, pw)) as d,
        TestDevice(broker.device_address(stranger_id, "pw-stranger")) as stranger,
    ):
        yield ingest, d, stranger
    ingest.stop()


def test_hostile_flood_with_valid_traffic(
    flood_setup: tuple[IngestService, TestDevice, TestDevice], sessions: sessionmaker[Session]
) -> None:
    ingest, dev, stranger = flood_setup
    worker = ingest._worker
    valid_ids: list[str] = []
    n_bad = 0

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(junk=st.lists(hostile, min_size=1, max_size=8), strange=st.booleans())
    def flood(junk: list[bytes], strange: bool) -> None:
        nonlocal n_bad
        msgs: list[tuple[str, bytes]] = []
        for payload in junk:
            msgs.append((topics.event_topic(dev.device_id, "contact"), payload))
            eid, good = dev.motion_event()
            # a motion payload is wrong for a door contact: swap to a valid contact event
            body = json.loads(good)
            body["type"] = "contact"
            body["data"] = {"door": "front_door", "state": "open"}
            msgs.append((topics.event_topic(dev.device_id, "contact"), json.dumps(body).encode()))
            valid_ids.append(eid)
        if strange:
            _e, sp = stranger.motion_event()
            stranger.publish_raw(topics.event_topic(stranger.device_id, "motion"), sp)
            n_bad += 1
        publish_stream(dev, msgs, window=20)
        n_bad += len(junk)

    flood()

    def all_in() -> bool:
        with sessions() as s:
            ours = DeadLetter.device_id.in_([dev.device_id, stranger.device_id])
            n = s.scalar(select(func.count()).select_from(DeadLetter).where(ours)) or 0
            return ingest.stats.stored >= len(valid_ids) and n >= n_bad

    wait_until(all_in, 120, "the whole flood")
    with sessions() as s:
        stored = set(s.scalars(select(Event.id)))
        # only ours: the session broker may also replay other tests' retained statuses
        ours = DeadLetter.device_id.in_([dev.device_id, stranger.device_id])
        dead = int(s.scalar(select(func.count()).select_from(DeadLetter).where(ours)) or 0)
        no_reason = int(
            s.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.reason == ""))
            or 0
        )
    assert worker.is_alive()
    assert ingest.stats.connected
    assert stored == set(valid_ids)
    assert dead == n_bad
    assert no_reason == 0
    sys.stdout.write(
        f"{len(valid_ids) + n_bad} messages, {n_bad} hostile, {len(valid_ids)} valid stored, "
        f"0 lost, 0 duplicated, hub never restarted\n"
    )
