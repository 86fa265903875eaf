"""The ingest service: paho (MQTT 5, QoS 1, persistent session, manual ack) → queue → batches.

The paho network thread only wraps each message in an `Inbound` and puts it on a bounded
queue (a full queue blocks it: back-pressure reaches the broker, which keeps queueing).
One worker thread takes batches, stores each in one transaction, and acknowledges every
message of the batch to the broker only after COMMIT — so a crash at any point loses
nothing that was acknowledged; redeliveries are absorbed by the idempotent store.
"""

from __future__ import annotations

import logging
import queue
import random
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from hub.broker.dynsec import BrokerAddress
from hub.ingest.store import BatchHook, BatchResult, Inbound, store_isolating_poison

log = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")  # fixed header (type 4 << 4, remaining length 2), packet id


@dataclass
class IngestStats:
    """Counters for health checks, metrics and benchmarks."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    commit_failures: int = 0
    connected: bool = False
    last_commit_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class IngestConfig:
    """How the ingest connects and batches."""

    address: BrokerAddress
    client_id: str = "carehub-hub-1"
    share_group: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    batch_max: int = 500
    batch_wait_ms: int = 20
    queue_max: int = 2000
    max_payload_bytes: int = 16 * 1024
    keepalive_s: int = 30
    coalesce_acks: bool = True  # one write for a batch's PUBACKs (False: paho's ack() each)


class _BufferedSocket:
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


class _IngestClient(mqtt.Client):
    """paho's client reading through `_BufferedSocket`, many packets per wake-up."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if hasattr(sock, "pending") else _BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(4096):  # bounded: writes (acks) and keepalive get their turn
            sock: Any = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or not sock.pending():
                break
            rc = super().loop_read(max_packets)
        return rc


class IngestService:
    """Runs the MQTT client and the storing worker."""

    def __init__(
        self,
        config: IngestConfig,
        sessions: sessionmaker[Session],
        *,
        hooks: Sequence[BatchHook] = (),
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.config = config
        self.stats = IngestStats()
        self._sessions = sessions
        self._hooks = tuple(hooks)
        self._on_batch = on_batch
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=config.queue_max)
        self._stop = threading.Event()
        self._generation = 0
        self._worker = threading.Thread(target=self._run_worker, name="ingest-worker", daemon=True)
        self._client = _IngestClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self._client.username_pw_set(config.address.username, config.address.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (retrying in the background) and start the worker."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        # A bounded receive window: the broker never has more unacknowledged messages
        # in flight to us than we are willing to hold in one batch.
        props.ReceiveMaximum = max(1, min(65535, self.config.batch_max * 2))
        self._worker.start()
        self._client.connect_async(
            self.config.address.host,
            self.config.address.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,  # MQTT 5 §3.1.2.4: resume the session, keep the queue
            properties=props,
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until connected and subscribed (tests, readiness)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats.connected:
                return True
            time.sleep(0.02)
        return False

    def queue_depth(self) -> int:
        """Messages received from the broker and not yet taken into a batch."""
        return self._queue.qsize()

    def oldest_queued_at(self) -> datetime | None:
        """When the oldest message still waiting in the queue was received; None if empty."""
        with self._queue.mutex:  # the deque behind queue.Queue; peeking needs its lock
            return self._queue.queue[0].received_at if self._queue.queue else None

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown: store and acknowledge what was received, then disconnect."""
        self._stop.set()
        self._worker.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho callbacks (network thread: keep them tiny) ------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error("broker refused the hub's connection: %s", rc)
            return
        self._generation += 1
        subs = [
            (topics.shared(f, self.config.share_group) if self.config.share_group else f, 1)
            for f in topics.HUB_FILTERS
        ]
        result, _mid = client.subscribe(subs)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("subscribe failed: rc=%s", result)
            return
        self.stats.connected = True
        log.info("ingest connected (session present: %s)", getattr(flags, "session_present", "?"))

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        self.stats.connected = False
        if not self._stop.is_set():
            log.warning("ingest disconnected (%s); paho reconnects with back-off", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        item = Inbound(
            msg.topic, bytes(msg.payload), datetime.now(UTC), msg.mid, msg.qos, self._generation
        )
        # Blocks when the worker falls behind (bounded memory); the broker keeps queueing.
        self._queue.put(item)

    # --- worker ---------------------------------------------------------------------------

    def _take_batch(self) -> list[Inbound]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait_ms / 1000
        while len(batch) < self.config.batch_max:
            if self._take_ready(batch):
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _take_ready(self, batch: list[Inbound]) -> int:
        """Move what is queued now into the batch under one lock; wake blocked producers."""
        q = self._queue
        with q.mutex:  # queue.Queue's documented lock, as in oldest_queued_at
            n = min(self.config.batch_max - len(batch), len(q.queue))
            for _ in range(n):
                batch.append(q.queue.popleft())
            if n:
                q.not_full.notify(n)
        return n

    def _ack(self, batch: list[Inbound]) -> None:
        """Acknowledge a committed batch to the broker.

        An ack is only meaningful on the connection that delivered the message; after a
        reconnect the broker redelivers unacked messages itself (MQTT 5 §4.4).
        """
        generation = self._generation
        mids = [m.mid for m in batch if m.qos == 1 and m.generation == generation]
        queue_packet = getattr(self._client, "_packet_queue", None)
        if mids and queue_packet is not None and self.config.coalesce_acks:
            # The batch's PUBACKs as one write: paho's ack() queues one packet, wakes its
            # network thread and makes one send() per message. The bytes are the same
            # PUBACK packets (MQTT 5 §3.4: reason code omitted = success), back to back.
            queue_packet(mqtt.PUBACK, b"".join([_PUBACK.pack(0x40, 2, m) for m in mids]), 0, 0)
        else:
            for mid in mids:
                self._client.ack(mid, 1)
        for m in batch:
            if m.qos == 2 and m.generation == generation:  # not subscribed at QoS 2 today
                self._client.ack(m.mid, 2)

    def _run_worker(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            self._store_until_done(batch)

    def _store_until_done(self, batch: list[Inbound]) -> None:
        """Commit the batch, retrying with back-off while the database is unavailable."""
        delay = 0.2
        while True:
            try:
                result = store_isolating_poison(
                    self._sessions,
                    batch,
                    max_bytes=self.config.max_payload_bytes,
                    hooks=self._hooks,
                )
                break
            except Exception:
                self.stats.commit_failures += 1
                log.exception("storing a batch of %d failed; retrying in %.1f s", len(batch), delay)
                if self._stop.is_set():
                    # Shutting down with the database away: leave the batch unacknowledged;
                    # the broker redelivers it to the next session of this hub.
                    return
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0) * (0.8 + 0.4 * random.random())
        self._ack(batch)
        with self.stats.lock:
            self.stats.received += len(batch)
            self.stats.stored += len(result.stored)
            self.stats.duplicates += result.duplicates
            self.stats.dead_letters += result.dead_letters
            self.stats.batches += 1
            self.stats.last_commit_at = time.monotonic()
        if self._on_batch is not None:
            self._on_batch(result)
