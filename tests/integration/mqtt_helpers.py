"""A small real MQTT device client for tests (paho, MQTT 5, QoS 1, waits for PUBACK)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices import envelope, topics
from devices.payloads import Motion, Room
from hub.broker.dynsec import BrokerAddress


class TestDevice:
    """Connects as one device; records the broker's PUBACK reason code per message."""

    __test__ = False

    def __init__(self, address: BrokerAddress, *, will: bool = True) -> None:
        self.address = address
        self.device_id = address.username
        self.acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.connected = threading.Event()
        self.connect_rc: ReasonCode | None = None
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=address.username,
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(address.username, address.password)
        if will:
            self.client.will_set(
                topics.status_topic(self.device_id), b'{"state":"offline"}', qos=1, retain=True
            )
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.seq = 0

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None) -> None:
        self.connect_rc = rc
        if not rc.is_failure:
            self.connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._acked:
            self.acks[mid] = rc
            self._acked.notify_all()

    def __enter__(self) -> TestDevice:
        self.client.connect(self.address.host, self.address.port)
        self.client.loop_start()
        if not self.connected.wait(5):
            raise RuntimeError(f"device {self.device_id} could not connect: {self.connect_rc}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_raw(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout: float = 5.0
    ) -> ReasonCode:
        """Publish at QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed locally: rc={info.rc}")
        deadline = time.monotonic() + timeout
        with self._acked:
            while info.mid not in self.acks:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no PUBACK")
                self._acked.wait(left)
            return self.acks.pop(info.mid)

    def motion_event(
        self, room: Room = Room.KITCHEN, *, event_id: str | None = None, ts: datetime | None = None
    ) -> tuple[str, bytes]:
        """A valid motion envelope for this device; returns (event id, payload)."""
        self.seq += 1
        eid = event_id or str(uuid.uuid4())
        payload = envelope.encode(
            id=eid,
            device_id=self.device_id,
            ts=ts or datetime.now(UTC) - timedelta(seconds=1),
            seq=self.seq,
            type="motion",
            data=Motion(room=room),
        )
        return eid, payload

    def send_motion(self, room: Room = Room.KITCHEN, *, event_id: str | None = None) -> str:
        """Publish one valid motion event; return its id."""
        eid, payload = self.motion_event(room, event_id=event_id)
        rc = self.publish_raw(topics.event_topic(self.device_id, "motion"), payload)
        assert not rc.is_failure, rc
        return eid


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `cond` until true, or fail with `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def publish_stream(
    dev: TestDevice, payloads: list[tuple[str, bytes]], *, window: int = 100, timeout: float = 120.0
) -> None:
    """Publish many (topic, payload) at QoS 1 with at most `window` unacknowledged."""
    deadline = time.monotonic() + timeout
    outstanding: list[int] = []
    for topic, payload in payloads:
        while len(outstanding) >= window:
            with dev._acked:
                outstanding = [m for m in outstanding if m not in dev.acks]
                if len(outstanding) >= window:
                    dev._acked.wait(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError("broker stopped acknowledging")
        info = dev.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:  # MQTT-NOTES pitfall 2: rc is not an exception
            raise RuntimeError(f"publish failed locally: rc={info.rc}")
        outstanding.append(info.mid)
    wait_until(lambda: all(m in dev.acks for m in outstanding), timeout, "final PUBACKs")
    for m in outstanding:
        rc = dev.acks.pop(m)
        assert not rc.is_failure, rc


def publish_reliably(
    dev: TestDevice,
    msgs: list[tuple[str, bytes]],
    *,
    window: int = 100,
    ack_wait: float = 3.0,
    timeout: float = 120.0,
) -> int:
    """Publish until every message got a PUBACK, re-sending after outages (as a device does).

    Returns how many publishes were re-sends.
    """
    deadline = time.monotonic() + timeout
    pending = list(msgs)
    resent = 0
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} messages never acknowledged")
        if not dev.connected.wait(0.5):
            continue
        chunk, pending = pending[:window], pending[window:]
        mids: dict[int, tuple[str, bytes]] = {}
        failed: list[tuple[str, bytes]] = []
        for topic, payload in chunk:
            info = dev.client.publish(topic, payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                mids[info.mid] = (topic, payload)
            else:
                failed.append((topic, payload))
        end = time.monotonic() + ack_wait
        with dev._acked:
            while time.monotonic() < end and not all(m in dev.acks for m in mids):
                dev._acked.wait(0.05)
            unacked = [msg for m, msg in mids.items() if m not in dev.acks]
            for m in mids:
                rc = dev.acks.pop(m, None)
                assert rc is None or not rc.is_failure, rc
        retry = failed + unacked
        resent += len(retry)
        pending = retry + pending
    return resent
