"""The hub's MQTT 5 ingest connection: paho with chunked reads and coalesced PUBACKs.

Imports only paho and the device contract's topic filters, so the receiver process
(`hub.ingest.receiver`) starts small.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices import topics

_PUBACK = struct.Struct("!BBH")  # fixed header (type 4 << 4, remaining length 2), packet id


@dataclass(frozen=True)
class Connection:
    """How the ingest connects (picklable: sent to the receiver process)."""

    host: str
    port: int
    username: str
    password: str
    client_id: str
    share_group: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    receive_max: int = 1000
    keepalive_s: int = 30
    coalesce_acks: bool = True

    def subscriptions(self) -> list[tuple[str, int]]:
        """The hub's topic filters at QoS 1, as a shared subscription when configured."""
        return [
            (topics.shared(f, self.share_group) if self.share_group else f, 1)
            for f in topics.HUB_FILTERS
        ]


class BufferedSocket:
    """The broker connection read in large chunks instead of paho's per-packet reads.

    paho reads each packet with several small recv() calls (type byte, length bytes one at
    a time, body) and one select() per packet; every call is a system call that releases
    the GIL, which the storing worker then takes over. One recv() of up to 256 KiB serves
    hundreds of packets. `pending()` is the attribute paho already consults for TLS
    sockets: while it is non-zero, paho's loop does not wait in select().
    """

    __slots__ = ("_sock", "_buf", "_pos")

    _CHUNK = 256 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data: bytes = self._sock.recv(max(bufsize, self._CHUNK))  # BlockingIOError: none
            if not data:
                return data  # the broker closed the connection
            self._buf, self._pos = data, 0
        start = self._pos
        self._pos = min(start + bufsize, len(self._buf))
        return self._buf[start : self._pos]

    def pending(self) -> int:
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:  # send, fileno, setblocking, close, ...
        return getattr(self._sock, name)


class IngestClient(mqtt.Client):
    """paho's client reading through `BufferedSocket`, many packets per wake-up.

    `after_read`, when set, runs on the network thread after each burst of packets (the
    receiver process forwards what arrived in one message).
    """

    after_read: Callable[[], None] | None = None

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if hasattr(sock, "pending") else BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(4096):  # bounded: writes (acks) and keepalive get their turn
            sock: Any = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        if self.after_read is not None:
            self.after_read()
        return rc


def make_client(conn: Connection) -> IngestClient:
    """An unconnected client: MQTT 5, manual acknowledgement, reconnect back-off."""
    client = IngestClient(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=conn.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    client.username_pw_set(conn.username, conn.password)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_async(client: mqtt.Client, conn: Connection) -> None:
    """Resume the persistent session (clean start off) with a bounded receive window."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = conn.session_expiry_s
    # The broker never has more unacknowledged messages in flight to us than this.
    props.ReceiveMaximum = max(1, min(65535, conn.receive_max))
    client.connect_async(
        conn.host,
        conn.port,
        keepalive=conn.keepalive_s,
        clean_start=False,  # MQTT 5 §3.1.2.4: resume the session, keep the queue
        properties=props,
    )


def send_acks(client: mqtt.Client, mids: Sequence[int], *, coalesce: bool = True) -> None:
    """PUBACK the given QoS 1 packet ids (on the connection that delivered them)."""
    queue_packet = getattr(client, "_packet_queue", None)
    if mids and queue_packet is not None and coalesce:
        # One write: paho's ack() queues one packet, wakes its network thread and makes one
        # send() per message. The bytes are the same PUBACK packets (MQTT 5 §3.4: reason
        # code omitted = success), back to back.
        queue_packet(mqtt.PUBACK, b"".join([_PUBACK.pack(0x40, 2, m) for m in mids]), 0, 0)
    else:
        for mid in mids:
            client.ack(mid, 1)
