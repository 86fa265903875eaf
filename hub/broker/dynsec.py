"""Mosquitto dynamic-security control over MQTT: accounts and per-device ACL roles.

Commands go to ``$CONTROL/dynamic-security/v1`` and answers come back on ``.../response``
(mosquitto's dynamic-security plugin). Changes take effect at once, without a restart,
and deleting a client disconnects it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices import topics

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"

HUB_ROLE = "carehub-hub"


class DynSecError(RuntimeError):
    """The broker refused a dynamic-security command."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where a broker listens and which account to use."""

    host: str
    port: int
    username: str
    password: str


def device_role(device_id: str) -> str:
    """Name of the role holding one device's ACL."""
    return f"dev-{device_id}"


def device_role_acls(device_id: str) -> list[dict[str, Any]]:
    """ACL of one device: publish below its own subtree, except to its own commands."""
    return [
        # Higher priority is checked first: a device may not forge its own commands.
        {
            "acltype": "publishClientSend",
            "topic": topics.PREFIX + f"/{device_id}/cmd/#",
            "priority": 10,
            "allow": False,
        },
        {
            "acltype": "publishClientSend",
            "topic": topics.device_subtree(device_id),
            "priority": 0,
            "allow": True,
        },
        {
            "acltype": "subscribePattern",
            "topic": topics.device_command_filter(device_id),
            "priority": 0,
            "allow": True,
        },
        {
            "acltype": "publishClientReceive",
            "topic": topics.device_command_filter(device_id),
            "priority": 0,
            "allow": True,
        },
    ]


def hub_role_acls() -> list[dict[str, Any]]:
    """ACL of the hub account: read every device's events, status and acks; send commands."""
    acls: list[dict[str, Any]] = []
    for filter_ in topics.HUB_FILTERS:
        acls.append({"acltype": "subscribePattern", "topic": filter_, "allow": True})
        # Mosquitto checks a shared subscription with its $share/{group}/ prefix.
        acls.append({"acltype": "subscribePattern", "topic": f"$share/+/{filter_}", "allow": True})
        acls.append({"acltype": "publishClientReceive", "topic": filter_, "allow": True})
    acls.append(
        {"acltype": "publishClientSend", "topic": f"{topics.PREFIX}/+/cmd/+", "allow": True}
    )
    return acls


class DynSecClient:
    """A short-lived admin connection that sends dynamic-security commands and waits for answers."""

    def __init__(self, address: BrokerAddress, *, timeout: float = 10.0) -> None:
        self._address = address
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._ready = threading.Event()
        self._connect_error: str | None = None
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"carehub-admin-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(address.username, address.password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def __enter__(self) -> DynSecClient:
        self._client.connect(self._address.host, self._address.port, keepalive=30)
        self._client.loop_start()
        if not self._ready.wait(self._timeout):
            self.close()
            raise DynSecError(self._connect_error or "timed out connecting to the broker as admin")
        if self._connect_error:
            self.close()
            raise DynSecError(self._connect_error)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            self._connect_error = f"broker refused the admin account: {rc}"
            self._ready.set()
            return
        result, _mid = client.subscribe(RESPONSE_TOPIC, qos=1)
        if result != mqtt.MQTT_ERR_SUCCESS:
            self._connect_error = f"subscribe to {RESPONSE_TOPIC} failed: {result}"
        self._ready.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            log.warning("unreadable dynamic-security response")
            return
        for resp in body.get("responses", []):
            corr = resp.get("correlationData")
            with self._lock:
                if corr in self._pending:
                    self._answers.setdefault(corr, []).append(resp)
                    self._pending[corr].set()

    def run(self, commands: list[dict[str, Any]], *, ignore: tuple[str, ...] = ()) -> None:
        """Send commands in one message; raise DynSecError on the first error not in `ignore`."""
        corr = uuid.uuid4().hex
        tagged = [dict(cmd, correlationData=f"{corr}-{i}") for i, cmd in enumerate(commands)]
        keys = [c["correlationData"] for c in tagged]
        events = {k: threading.Event() for k in keys}
        with self._lock:
            self._pending.update(events)
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DynSecError(f"could not send dynamic-security command: rc={info.rc}")
        for key in keys:
            if not events[key].wait(self._timeout):
                raise DynSecError("no answer from the dynamic-security plugin (is it loaded?)")
        with self._lock:
            answers = [self._answers.pop(k, [{}])[0] for k in keys]
            for k in keys:
                self._pending.pop(k, None)
        for cmd, ans in zip(commands, answers, strict=True):
            err = ans.get("error")
            if err and not any(s in str(err) for s in ignore):
                raise DynSecError(f"{cmd['command']}: {err}")

    # --- accounts -------------------------------------------------------------------------

    def add_device(self, device_id: str, password: str) -> None:
        """Create a device account with its own role (publish only below its own topics)."""
        role = device_role(device_id)
        self.run(
            [
                {"command": "createRole", "rolename": role, "acls": device_role_acls(device_id)},
                {
                    "command": "createClient",
                    "username": device_id,
                    "password": password,
                    "roles": [{"rolename": role}],
                },
            ]
        )

    def remove_device(self, device_id: str) -> None:
        """Delete a device account (the broker disconnects it) and its role."""
        self.run(
            [
                {"command": "deleteClient", "username": device_id},
                {"command": "deleteRole", "rolename": device_role(device_id)},
            ],
            ignore=("not found",),
        )

    def set_password(self, device_id: str, password: str) -> None:
        """Replace a device's password."""
        self.run([{"command": "setClientPassword", "username": device_id, "password": password}])

    def ensure_hub_account(self, username: str, password: str) -> None:
        """Create (or refresh) the hub's account and role; safe to repeat."""
        self.run(
            [{"command": "createRole", "rolename": HUB_ROLE, "acls": hub_role_acls()}],
            ignore=("already exists",),
        )
        self.run(
            [
                {
                    "command": "createClient",
                    "username": username,
                    "password": password,
                    "roles": [{"rolename": HUB_ROLE}],
                }
            ],
            ignore=("already exists",),
        )
        self.run([{"command": "setClientPassword", "username": username, "password": password}])
