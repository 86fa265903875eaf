"""The ingest service: paho (MQTT 5, QoS 1, persistent session, manual ack) → queue → batches.

The MQTT side only wraps each message in an `Inbound` and puts it on a bounded queue (a
full queue blocks it: back-pressure reaches the broker, which keeps queueing). One worker
thread takes batches, stores each in one transaction, and acknowledges every message of
the batch to the broker only after COMMIT — so a crash at any point loses nothing that was
acknowledged; redeliveries are absorbed by the idempotent store.

The MQTT side runs either in the receiver process (`receiver="process"`, the default:
hub.ingest.receiver, so receiving and storing use two cores) or as paho's network thread
in this process (`receiver="thread"`).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from hub.broker.dynsec import BrokerAddress
from hub.ingest.client import Connection, connect_async, make_client, send_acks
from hub.ingest.receiver import Message, ReceiverProcess
from hub.ingest.store import BatchHook, BatchResult, Inbound, store_isolating_poison

log = logging.getLogger(__name__)


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
    receiver: Literal["process", "thread"] = "process"

    def connection(self) -> Connection:
        return Connection(
            host=self.address.host,
            port=self.address.port,
            username=self.address.username,
            password=self.address.password,
            client_id=self.client_id,
            share_group=self.share_group,
            session_expiry_s=self.session_expiry_s,
            # A bounded receive window: the broker never has more unacknowledged messages
            # in flight to us than we are willing to hold in two batches.
            receive_max=max(1, min(65535, self.batch_max * 2)),
            keepalive_s=self.keepalive_s,
            coalesce_acks=self.coalesce_acks,
        )


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
        self._client: mqtt.Client | None = None
        self._receiver: ReceiverProcess | None = None
        if config.receiver == "process":
            self._receiver = ReceiverProcess(
                config.connection(),
                on_messages=self._on_messages,
                on_up=self._on_up,
                on_down=self._on_down,
            )
        else:
            self._client = client = make_client(config.connection())
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (retrying in the background) and start the worker."""
        self._worker.start()
        if self._receiver is not None:
            self._receiver.start()
        else:
            assert self._client is not None
            connect_async(self._client, self.config.connection())
            self._client.loop_start()

    @property
    def receiver_pid(self) -> int | None:
        """The receiver process's pid (None when receiving on a thread)."""
        return self._receiver.pid if self._receiver is not None else None

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
        if self._receiver is not None:
            self._receiver.stop(timeout)
        elif self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    # --- the receiver process's callbacks (its reader thread) ------------------------------

    def _on_messages(self, messages: list[Message]) -> None:
        fromts = datetime.fromtimestamp
        items = [
            Inbound(topic, payload, fromts(at, UTC), mid, qos, generation)
            for topic, payload, at, mid, qos, generation in messages
        ]
        # Into the bounded queue as many at a time as there is room for, under its lock
        # (queue.Queue's documented mutex and conditions, as in _take_ready). Blocks when
        # the worker falls behind (bounded memory): the receiver then stops reading and
        # the broker keeps queueing.
        q, done = self._queue, 0
        while done < len(items):
            with q.not_full:
                while 0 < q.maxsize <= len(q.queue):
                    q.not_full.wait()
                room = q.maxsize - len(q.queue) if q.maxsize > 0 else len(items) - done
                q.queue.extend(items[done : done + room])
                done += room
                q.not_empty.notify()

    def _on_up(self, generation: int, session_present: bool) -> None:
        self._generation = generation
        self.stats.connected = True
        log.info("ingest connected (session present: %s)", session_present)

    def _on_down(self, reason: str) -> None:
        if self.stats.connected and not self._stop.is_set():
            log.warning("ingest disconnected (%s); reconnecting with back-off", reason)
        self.stats.connected = False

    # --- paho callbacks (network thread: keep them tiny) ------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error("broker refused the hub's connection: %s", rc)
            return
        self._generation += 1
        result, _mid = client.subscribe(self.config.connection().subscriptions())
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
        if self._receiver is not None:
            self._receiver.ack(generation, mids)
            return
        assert self._client is not None
        send_acks(self._client, mids, coalesce=self.config.coalesce_acks)

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
