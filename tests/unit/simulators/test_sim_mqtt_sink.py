"""The MQTT sink against a fake paho client: identity, Last Will, rc checks, flow control."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from devices.payloads import RobotMessage, RobotSchedule
from simulators.mqtt_sink import MqttSink, MqttSinkError
from simulators.stream import Message


@dataclass
class Reason:
    is_failure: bool = False


@dataclass
class Info:
    rc: int
    mid: int


@dataclass
class FakeMsg:
    topic: str
    payload: bytes


@dataclass
class FakeClient:
    device_id: str
    refuse: bool = False
    ack_at_once: bool = False
    rc: int = mqtt.MQTT_ERR_SUCCESS
    published: list[tuple[str, bytes, int, bool]] = field(default_factory=list)
    subscribed: list[str] = field(default_factory=list)
    will: tuple[str, bytes, int, bool] | None = None
    creds: tuple[str, str] | None = None
    disconnected: bool = False
    unacked: list[int] = field(default_factory=list)
    mid: int = 0
    on_connect: Any = None
    on_publish: Any = None
    on_message: Any = None

    def username_pw_set(self, user: str, password: str) -> None:
        self.creds = (user, password)

    def will_set(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.will = (topic, payload, qos, retain)

    def connect(self, host: str, port: int, keepalive: int) -> None:
        pass

    def loop_start(self) -> None:
        self.on_connect(self, None, None, Reason(self.refuse), None)

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        self.disconnected = True

    def subscribe(self, topic: str, qos: int) -> None:
        self.subscribed.append(topic)

    def publish(self, topic: str, payload: Any, qos: int = 0, retain: bool = False) -> Info:
        self.mid += 1
        data = payload if isinstance(payload, bytes) else str(payload).encode()
        self.published.append((topic, data, qos, retain))
        if self.rc != mqtt.MQTT_ERR_SUCCESS:
            return Info(self.rc, self.mid)
        if self.ack_at_once and self.on_publish is not None:
            self.on_publish(self, None, self.mid, Reason(), None)
        else:
            self.unacked.append(self.mid)
        return Info(self.rc, self.mid)

    def ack_all(self) -> None:
        for mid in self.unacked:
            self.on_publish(self, None, mid, Reason(), None)
        self.unacked.clear()


def _msg(device_id: str, n: int = 0, status: str | None = None) -> Message:
    if status is not None:
        topic = f"carehub/v1/dev/{device_id}/status"
        body: dict[str, Any] = {"status": status, "at": "2026-01-05T00:00:00.000Z"}
        return Message(n, "h0001", "c0001", device_id, "motion", topic, body, True)
    env = {
        "id": f"event-{device_id}-{n:04d}",
        "device_id": device_id,
        "ts": "2026-01-05T07:00:00.000Z",
        "seq": n,
        "type": "motion",
        "data": {"room": "kitchen"},
    }
    topic = f"carehub/v1/dev/{device_id}/evt/motion"
    return Message(n, "h0001", "c0001", device_id, "motion", topic, {"event": env})


def _sink(**kw: Any) -> tuple[MqttSink, dict[str, FakeClient]]:
    clients: dict[str, FakeClient] = {}
    opts = {k: kw.pop(k) for k in ("refuse", "ack_at_once", "rc") if k in kw}

    def factory(device_id: str) -> FakeClient:
        c = FakeClient(device_id, **opts)
        clients[device_id] = c
        return c

    passwords = kw.pop("passwords", {f"h0001-mot-{r}": "pw-" + r for r in "abc"})
    sink = MqttSink(host="x", port=1, passwords=passwords, client_factory=factory, **kw)
    return sink, clients


def test_each_device_publishes_as_itself_with_a_retained_last_will_and_online_status() -> None:
    sink, clients = _sink(ack_at_once=True)
    sink.publish(_msg("h0001-mot-a", 1))
    sink.publish(_msg("h0001-mot-b", 2, status="offline"))
    sink.close()
    a, b = clients["h0001-mot-a"], clients["h0001-mot-b"]
    assert a.creds == ("h0001-mot-a", "pw-a")
    assert a.will == ("carehub/v1/dev/h0001-mot-a/status", b'{"state":"offline"}', 1, True)
    assert a.published[0] == ("carehub/v1/dev/h0001-mot-a/status", b'{"state":"online"}', 1, True)
    topic, payload, qos, retain = a.published[1]
    assert (topic, qos, retain) == ("carehub/v1/dev/h0001-mot-a/evt/motion", 1, False)
    assert json.loads(payload)["id"] == "event-h0001-mot-a-0001"
    assert b.published[1] == ("carehub/v1/dev/h0001-mot-b/status", b'{"state":"offline"}', 1, True)
    assert a.subscribed == ["carehub/v1/dev/h0001-mot-a/cmd/#"]
    assert a.disconnected
    assert b.disconnected


def test_a_failed_publish_raises_instead_of_losing_the_message() -> None:
    sink, _ = _sink(rc=mqtt.MQTT_ERR_QUEUE_SIZE)
    with pytest.raises(MqttSinkError, match="rc=15"):
        sink.publish(_msg("h0001-mot-a"))


def test_outstanding_messages_are_capped_until_the_broker_acknowledges() -> None:
    sink, clients = _sink(max_outstanding=3, timeout_s=0.2)
    for n in range(3):
        sink.publish(_msg("h0001-mot-a", n))
    with pytest.raises(MqttSinkError, match="acknowledge"):
        sink.publish(_msg("h0001-mot-a", 3))
    clients["h0001-mot-a"].ack_all()
    sink.publish(_msg("h0001-mot-a", 4))
    clients["h0001-mot-a"].ack_all()
    sink.close()
    assert sink.published == 4


def test_a_puback_that_overtakes_publish_returning_is_counted_once() -> None:
    sink, _ = _sink(ack_at_once=True, max_outstanding=2, timeout_s=0.2)
    for n in range(10):
        sink.publish(_msg("h0001-mot-a", n))
    sink.close()  # would time out if an early PUBACK were lost
    assert sink.published == 10


def test_connections_are_capped_and_the_least_recently_used_device_disconnects() -> None:
    sink, clients = _sink(ack_at_once=True, max_connections=2)
    sink.publish(_msg("h0001-mot-a"))
    sink.publish(_msg("h0001-mot-b"))
    sink.publish(_msg("h0001-mot-a"))
    sink.publish(_msg("h0001-mot-c"))
    assert clients["h0001-mot-b"].disconnected
    assert not clients["h0001-mot-a"].disconnected
    sink.close()


def test_unknown_credentials_and_refused_connections_are_errors() -> None:
    sink, _ = _sink()
    with pytest.raises(MqttSinkError, match="no credentials"):
        sink.publish(_msg("h0009-mot-x"))
    refused, _ = _sink(refuse=True)
    with pytest.raises(MqttSinkError, match="refused"):
        refused.publish(_msg("h0001-mot-a"))


def test_commands_are_validated_acknowledged_and_handed_on() -> None:
    got: list[tuple[str, str, Any]] = []
    sink, clients = _sink(
        ack_at_once=True,
        passwords={"h0001-rbt": "pw"},
        on_command=lambda d, n, c: got.append((d, n, c)),
    )
    sink.publish(_msg("h0001-rbt"))
    robot = clients["h0001-rbt"]
    schedule = RobotSchedule(
        version=3, messages=[RobotMessage(message_id="m1", text="Koffie!", at="10:00")]
    )
    robot.on_message(
        robot,
        None,
        FakeMsg("carehub/v1/dev/h0001-rbt/cmd/schedule", schedule.model_dump_json().encode()),
    )
    robot.on_message(
        robot, None, FakeMsg("carehub/v1/dev/h0001-rbt/cmd/schedule", b'{"version": -1}')
    )
    acks = [json.loads(p) for t, p, _, _ in robot.published if t.endswith("/ack")]
    assert acks[0] == {"command": "schedule", "version": 3, "ok": True, "error": None}
    assert acks[1]["ok"] is False
    assert got == [("h0001-rbt", "schedule", schedule)]
    sink.close()
