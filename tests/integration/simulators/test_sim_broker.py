"""A simulated day through a real Mosquitto: every device publishes as itself, nothing lost."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.payloads import RobotMessage, RobotSchedule
from devices.topics import HUB_FILTERS, command_topic, parse
from hub.broker.dynsec import DynSecClient, DynSecError
from simulators.cli import CommandInbox
from simulators.mqtt_sink import MqttSink
from simulators.stream import FaultConfig, Simulation
from tests.conftest import RunningBroker

pytestmark = pytest.mark.broker


class Collector:
    """Subscribes as the hub and keeps every message it receives."""

    def __init__(self, broker: RunningBroker) -> None:
        self.got: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="sim-test-hub", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(broker.hub.username, broker.hub.password)

        def on_connect(c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            for f in HUB_FILTERS:
                c.subscribe(f, qos=1)
            ready.set()

        def on_message(_c: Any, _u: Any, m: Any) -> None:
            with self.lock:
                self.got.append((m.topic, bytes(m.payload), bool(m.retain)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert ready.wait(10)
        time.sleep(0.3)  # let the SUBACKs land before anything is published

    def wait_for(self, pred: Any, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if pred(self.got):
                    return
            time.sleep(0.05)
        raise AssertionError("timed out waiting for messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_simulated_day_arrives_event_for_event_through_the_broker(
    broker: RunningBroker,
) -> None:
    inbox = CommandInbox()
    sim = Simulation(
        homes=1,
        days=1,
        seed=77,
        start=date(2026, 5, 11),
        faults=FaultConfig(duplicate_rate=0.01),
        plans=inbox.plans,
    )
    passwords = {d.device_id: f"pw-{d.device_id}" for d in sim.homes[0].devices}
    with DynSecClient(broker.admin) as admin:
        for device_id, password in passwords.items():
            try:
                admin.remove_device(device_id)
            except DynSecError:
                pass  # not there yet: the usual case
            admin.add_device(device_id, password)
    hub = Collector(broker)
    sink = MqttSink(
        host="127.0.0.1",
        port=broker.port,
        passwords=passwords,
        max_connections=4,  # fewer than the 12 devices: connections are recycled
        max_outstanding=50,
        on_command=inbox.receive,
    )
    try:
        sent = list(sim.messages())
        for msg in sent:
            sink.publish(msg)
        expected = [m.payload() for m in sent if "event" in m.body]
        hub.wait_for(lambda got: sum("/evt/" in t for t, _, _ in got) >= len(expected))
        received = [p for t, p, _ in hub.got if "/evt/" in t]
        # QoS 1 end to end: every event exactly as published (duplicates included).
        assert sorted(received) == sorted(expected)
        # (the broker may also hold retained statuses of other tests' devices)
        statuses = {parse(t).device_id for t, p, _ in hub.got if t.endswith("/status")}
        assert statuses & set(passwords) == set(passwords)

        # A command to the robot is validated and acknowledged on its ack topic.
        robot = sim.homes[0].by_key["robot"].device_id
        schedule = RobotSchedule(
            version=5, messages=[RobotMessage(message_id="koffie", text="Koffie!", at="10:00")]
        )
        sink.publish(next(m for m in sent if m.device_id == robot))  # robot connected now
        hub.client.publish(
            command_topic(robot, "schedule"), schedule.model_dump_json(), qos=1, retain=True
        )
        hub.wait_for(lambda got: any(t.endswith(f"{robot}/ack") for t, _, _ in got))
        ack = next(json.loads(p) for t, p, _ in hub.got if t.endswith(f"{robot}/ack"))
        assert ack == {"command": "schedule", "version": 5, "ok": True, "error": None}
        assert inbox.commands[(robot, "schedule")] == schedule
    finally:
        sink.close()
        hub.close()
