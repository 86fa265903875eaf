"""The ingest's MQTT connection in its own process (`CAREHUB_INGEST_RECEIVER=process`).

Why: paho's receive path and the storing worker are both Python; in one process they take
turns on one GIL, so the hub could never use more than one core for ingest. The receiver
process only reads MQTT and forwards messages; the hub process stores, runs the rules and
decides when to acknowledge. They run on two cores.

Protocol over a socket pair (multiprocessing.connection framing, pickled tuples):
  hub -> receiver  ("conn", Connection) first; then ("ack", generation, [mid, ...]) after
                   each COMMIT; ("stop",) for a clean disconnect.
  receiver -> hub  ("msgs", [(topic, payload, received_at_epoch_s, mid, qos, generation)]);
                   ("up", generation, session_present); ("down", reason); ("refused", reason).

Nothing is acknowledged that the hub did not commit: the receiver only sends PUBACKs the
hub asks for, and only on the connection (generation) that delivered the messages. When
the hub process dies, the receiver reads end-of-file and exits at once without acking;
when the receiver dies, the hub starts a new one and the broker redelivers what was
unacknowledged (the store is idempotent). Each receiver gets its own generation range, so
an ack meant for a previous connection can never reach the new one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.ingest.client import Connection, connect_async, make_client, send_acks

log = logging.getLogger(__name__)

GENERATIONS_PER_RECEIVER = 1_000_000

Message = tuple[str, bytes, float, int, int, int]
"""(topic, payload, received_at as epoch seconds, mid, qos, generation)"""


# --- the receiver process ---------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: be killed when the hub process dies (belt and braces next to end-of-file)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run(pipe: Pipe) -> None:
    """Receiver main: connect as told, forward messages, ack what the hub committed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group;
    # the hub decides when to stop (it drains and acks first).
    _die_with_parent()
    first = pipe.recv()
    if first[0] != "conn":
        raise SystemExit("receiver: expected the connection settings first")
    conn: Connection = first[1]
    epoch: int = first[2]
    generation = epoch * GENERATIONS_PER_RECEIVER
    pending: list[Message] = []
    client = make_client(conn)

    def forward() -> None:
        nonlocal pending
        if pending:
            batch, pending = pending, []
            pipe.send(("msgs", batch))

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        pending.append((msg.topic, bytes(msg.payload), time.time(), msg.mid, msg.qos, generation))

    def on_connect(
        c: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        nonlocal generation
        if rc.is_failure:
            pipe.send(("refused", str(rc)))
            return
        generation += 1
        result, _mid = c.subscribe(conn.subscriptions())
        if result != mqtt.MQTT_ERR_SUCCESS:
            pipe.send(("refused", f"subscribe failed: rc={result}"))
            return
        pipe.send(("up", generation, bool(getattr(flags, "session_present", False))))

    def on_disconnect(
        _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        forward()  # what arrived before the connection dropped (acks now go nowhere)
        pipe.send(("down", str(rc)))

    client.on_message = on_message
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.after_read = forward
    connect_async(client, conn)
    client.loop_start()
    try:
        while True:
            try:
                cmd = pipe.recv()
            except (EOFError, OSError):
                os._exit(0)  # the hub is gone: acknowledge nothing more
            if cmd[0] == "ack":
                if cmd[1] == generation:
                    send_acks(client, cmd[2], coalesce=conn.coalesce_acks)
            elif cmd[0] == "stop":
                break
    finally:
        client.disconnect()
        client.loop_stop()


def main() -> None:
    """`python -m hub.ingest.receiver FD`: FD is this end of the socket pair."""
    logging.basicConfig(level=logging.WARNING, format="receiver: %(levelname)s %(message)s")
    sock = socket.socket(fileno=int(sys.argv[1]))
    run(Pipe(sock.detach()))


# --- the hub side -----------------------------------------------------------------------


class ReceiverProcess:
    """Runs and supervises the receiver process; calls back on the hub's reader thread."""

    def __init__(
        self,
        conn: Connection,
        *,
        on_messages: Callable[[list[Message]], None],
        on_up: Callable[[int, bool], None],
        on_down: Callable[[str], None],
        restart_delay_s: float = 1.0,
    ) -> None:
        self._conn = conn
        self._on_messages = on_messages
        self._on_up = on_up
        self._on_down = on_down
        self._restart_delay_s = restart_delay_s
        self._epoch = 0
        self._stopping = threading.Event()
        self._send_lock = threading.Lock()
        self._pipe: Pipe | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._spawned = threading.Event()
        self._reader = threading.Thread(target=self._read, name="ingest-receiver", daemon=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        # The reader thread starts (and restarts) the process: Linux's parent-death signal
        # (_die_with_parent) follows the thread that forked, which must outlive the child.
        self._reader.start()
        self._spawned.wait(10)

    def _spawn(self) -> None:
        self._epoch += 1
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.ingest.receiver", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            close_fds=True,
        )
        theirs.close()
        pipe = Pipe(ours.detach())
        # The password travels over the socket pair, never on a command line.
        pipe.send(("conn", self._conn, self._epoch))
        with self._send_lock:
            self._pipe, self._proc = pipe, proc
        self._spawned.set()

    def ack(self, generation: int, mids: list[int]) -> None:
        """Ask the receiver to PUBACK these messages (no-op if it has gone)."""
        with self._send_lock:
            pipe = self._pipe
            if pipe is None or not mids:
                return
            try:
                pipe.send(("ack", generation, mids))
            except OSError:
                pass  # it died; the broker redelivers to the next receiver

    def _read(self) -> None:
        self._spawn()
        while True:
            pipe = self._pipe
            assert pipe is not None
            try:
                while True:
                    msg = pipe.recv()
                    kind = msg[0]
                    if kind == "msgs":
                        self._on_messages(msg[1])
                    elif kind == "up":
                        self._on_up(msg[1], msg[2])
                    elif kind == "down":
                        self._on_down(msg[1])
                    elif kind == "refused":
                        log.error("broker refused the hub's ingest connection: %s", msg[1])
            except (EOFError, OSError):
                pass
            self._on_down("receiver process ended")
            proc = self._proc
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            if self._stopping.is_set():
                return
            log.error(
                "ingest receiver process exited (rc=%s); starting a new one",
                proc.returncode if proc is not None else "?",
            )
            self._stopping.wait(self._restart_delay_s)
            if self._stopping.is_set():
                return
            with contextlib.suppress(OSError):
                pipe.close()
            self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect cleanly (after the hub acked what it committed) and end the process."""
        self._stopping.set()
        with self._send_lock:
            pipe, proc = self._pipe, self._proc
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.send(("stop",))
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reader.join(timeout)
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


if __name__ == "__main__":
    main()
