"""Sending commands to devices: a small publisher interface and its paho implementation."""

from __future__ import annotations

import threading
import uuid
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.broker.dynsec import BrokerAddress


class PublishError(RuntimeError):
    """The broker did not accept a command."""


class Publisher(Protocol):
    """Publishes one message at QoS 1; raises PublishError when the broker did not take it."""

    def publish(self, topic: str, payload: bytes, retain: bool) -> None: ...


class PahoPublisher:
    """Publishes with the hub's broker account (MQTT 5, QoS 1, waits for PUBACK)."""

    def __init__(
        self, address: BrokerAddress, *, client_id: str | None = None, timeout: float = 10.0
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._connect_rc: ReasonCode | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"carehub-cmd-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(address.username, address.password)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.on_disconnect = lambda *_a: self._connected.clear()
        self._started = False

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None) -> None:
        self._connect_rc = rc
        if not rc.is_failure:
            self._connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._acked:
            self._acks[mid] = rc
            self._acked.notify_all()

    def start(self) -> None:
        """Connect (paho reconnects by itself afterwards)."""
        if self._started:
            return
        self._client.connect_async(self.address.host, self.address.port)
        self._client.loop_start()
        self._started = True

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False

    def __enter__(self) -> PahoPublisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK (MQTT 5 §3.4: reason code)."""
        self.start()
        if not self._connected.wait(self.timeout):
            raise PublishError(f"not connected to the broker ({self._connect_rc})")
        with self._lock:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish failed locally: rc={info.rc}")
        with self._acked:
            if not self._acked.wait_for(lambda: info.mid in self._acks, self.timeout):
                raise PublishError("no PUBACK from the broker")
            rc = self._acks.pop(info.mid)
        # Mosquitto answers an ACL refusal with 0x87 "not authorized" in the PUBACK.
        if rc.is_failure:
            raise PublishError(f"broker refused the command: {rc}")
