"""Publish the stream through a real broker, each device as itself.

One paho client per device (its own client id, credentials and Last Will), connected
lazily on the device's first message. At most `max_connections` clients are open; the
least recently used one is disconnected cleanly when another is needed (docs/adr/0004).
Every publish is QoS 1, its return code is checked, and at most `max_outstanding`
messages may wait for their PUBACK (paho otherwise queues without bound and fails
silently at 65,535, /work/shared/MQTT-NOTES.md pitfall 2).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ValidationError

from devices.kinds import COMMAND_SCHEMAS
from devices.topics import ack_topic, device_command_filter, parse, status_topic
from simulators.stream import Message

log = logging.getLogger(__name__)

OFFLINE = b'{"state":"offline"}'
ONLINE = b'{"state":"online"}'

CommandHandler = Callable[[str, str, BaseModel], None]
"""(device_id, command name, validated command) -> None."""


class MqttSinkError(RuntimeError):
    """The broker refused a connection or a publish could not be queued."""


class MqttSink:
    """Publishes messages as the devices they come from."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        passwords: Mapping[str, str],
        max_connections: int = 200,
        max_outstanding: int = 1000,
        keepalive: int = 60,
        timeout_s: float = 30.0,
        on_command: CommandHandler | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.passwords = passwords
        self.max_connections = max_connections
        self.max_outstanding = max_outstanding
        self.keepalive = keepalive
        self.timeout_s = timeout_s
        self.on_command = on_command
        self._factory = client_factory or _paho_client
        self._clients: OrderedDict[str, Any] = OrderedDict()
        self._cond = threading.Condition()
        self._outstanding = 0
        self._per_device: dict[str, int] = {}
        self._pending: set[tuple[str, int]] = set()
        self._early: set[tuple[str, int]] = set()
        self.published = 0

    # --- connections -----------------------------------------------------------------
    def _client(self, device_id: str) -> Any:
        client = self._clients.get(device_id)
        if client is not None:
            self._clients.move_to_end(device_id)
            return client
        while len(self._clients) >= self.max_connections:
            old_id, old = self._clients.popitem(last=False)
            log.debug("closing %s to stay within %s connections", old_id, self.max_connections)
            self._wait(lambda i=old_id: self._per_device.get(i, 0) == 0)  # type: ignore[misc]
            old.disconnect()
            old.loop_stop()
        password = self.passwords.get(device_id)
        if password is None:
            raise MqttSinkError(f"no credentials for device {device_id}")
        client = self._factory(device_id)
        connected = threading.Event()
        result: dict[str, Any] = {}

        def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            result["reason"] = reason
            if not reason.is_failure:
                # Retained availability, the counterpart of the retained Last Will.
                c.publish(status_topic(device_id), ONLINE, qos=1, retain=True)
                c.subscribe(device_command_filter(device_id), qos=1)
            connected.set()

        client.username_pw_set(device_id, password)
        client.will_set(status_topic(device_id), OFFLINE, qos=1, retain=True)
        client.on_connect = on_connect
        client.on_publish = self._make_on_publish(device_id)
        client.on_message = self._make_on_message(device_id)
        client.connect(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        if not connected.wait(self.timeout_s) or result["reason"].is_failure:
            client.loop_stop()
            raise MqttSinkError(
                f"{device_id}: connect refused or timed out: {result.get('reason')}"
            )
        self._clients[device_id] = client
        log.debug("%s connected (%s open)", device_id, len(self._clients))
        return client

    # --- publishing with flow control ------------------------------------------------
    def _wait(self, pred: Callable[[], bool]) -> None:
        with self._cond:
            if not self._cond.wait_for(pred, self.timeout_s):
                raise MqttSinkError("broker did not acknowledge outstanding messages in time")

    def _make_on_publish(self, device_id: str) -> Callable[..., None]:
        def on_publish(_c: Any, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
            key = (device_id, mid)
            with self._cond:
                if key in self._pending:
                    self._pending.discard(key)
                    self._release(device_id)
                else:  # PUBACK raced ahead of publish() returning
                    self._early.add(key)

        return on_publish

    def _release(self, device_id: str) -> None:
        self._outstanding -= 1
        self._per_device[device_id] -= 1
        self._cond.notify_all()

    def publish(self, msg: Message) -> None:
        """Publish one message as its device (QoS 1); blocks while too many are unacknowledged."""
        client = self._client(msg.device_id)
        device_id = msg.device_id
        self._wait(lambda: self._outstanding < self.max_outstanding)
        with self._cond:
            self._outstanding += 1
            self._per_device[device_id] = self._per_device.get(device_id, 0) + 1
        info = client.publish(msg.topic, msg.payload(), qos=1, retain=msg.retain)
        # NO_CONN still queues a QoS 1 message inside paho; it is sent on reconnect.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            with self._cond:
                self._release(device_id)
            raise MqttSinkError(f"{device_id}: publish failed, rc={info.rc}")
        key = (device_id, info.mid)
        with self._cond:
            if key in self._early:
                self._early.discard(key)
                self._release(device_id)
            else:
                self._pending.add(key)
        self.published += 1

    def close(self) -> None:
        """Wait for every PUBACK, then disconnect all devices cleanly."""
        try:
            self._wait(lambda: self._outstanding == 0)
        finally:
            for client in self._clients.values():
                client.disconnect()
                client.loop_stop()
            self._clients.clear()

    # --- commands (robot schedule, dose plan) ----------------------------------------
    def _make_on_message(self, device_id: str) -> Callable[..., None]:
        def on_message(c: Any, _u: Any, message: Any) -> None:
            try:
                name = parse(message.topic).name or ""
            except ValueError:
                return
            schema = COMMAND_SCHEMAS.get(name)
            version, ok, error = 0, False, None
            command: BaseModel | None = None
            if schema is None:
                error = f"unknown command {name!r}"
            else:
                try:
                    command = schema.model_validate_json(message.payload)
                    version, ok = int(getattr(command, "version", 0)), True
                except ValidationError as exc:
                    error = f"invalid {name}: {exc.error_count()} error(s)"
            ack = {"command": name or "unknown", "version": version, "ok": ok, "error": error}
            c.publish(ack_topic(device_id), json.dumps(ack), qos=1)
            if command is not None and self.on_command is not None:
                self.on_command(device_id, name, command)

        return on_message


def _paho_client(device_id: str) -> Any:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
    # ~100 in flight was near the best throughput (MQTT-NOTES pitfall 3).
    client.max_inflight_messages_set(100)
    return client
