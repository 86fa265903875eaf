"""In-process broadcaster of alert changes to Server-Sent-Events subscribers.

Changes are published only after the transaction that made them commits (a rolled
back alert must never reach a dashboard); publishing is thread-safe because the MQTT
ingest worker commits on its own thread while subscribers live on the web event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

QUEUE_MAX = 1000  # a subscriber this far behind is dropped (it reconnects and re-lists)


class Broadcaster:
    """Fan-out of JSON-able messages to asyncio subscribers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None]]] = (
            set()
        )

    def publish(self, message: dict[str, Any]) -> None:
        """Send `message` to every subscriber; callable from any thread."""
        with self._lock:
            subs = list(self._subs)
        for entry in subs:
            try:
                entry[0].call_soon_threadsafe(self._offer, entry, message)
            except RuntimeError:  # the subscriber's loop is closed
                with self._lock:
                    self._subs.discard(entry)

    def _offer(
        self,
        entry: tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None]],
        message: dict[str, Any],
    ) -> None:
        with self._lock:
            if entry not in self._subs:
                return
        queue = entry[1]
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            # Too slow: end its stream (None) rather than grow without bound.
            with self._lock:
                self._subs.discard(entry)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of messages for the current event loop, for as long as the block runs."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_MAX)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subs.add(entry)
        try:
            yield queue
        finally:
            with self._lock:
                self._subs.discard(entry)

    def subscribers(self) -> int:
        """How many subscribers are listening."""
        with self._lock:
            return len(self._subs)


broadcaster = Broadcaster()
"""The process-wide broadcaster used by the alert service and the SSE route."""
