"""Event-time timers: a per-home watermark fires due timers in a deterministic order."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class Timer(NamedTuple):
    """A pending timer; `token` must still be current when it fires, else it was cancelled."""

    due: datetime
    seq: int  # creation order breaks ties, so replays fire identically
    client_id: str
    name: str


@dataclass
class TimerWheel:
    """Timers of one home, ordered by (due, creation order)."""

    heap: list[Timer] = field(default_factory=list)
    current: dict[tuple[str, str], int] = field(default_factory=dict)
    _seq: int = 0

    def set(self, client_id: str, name: str, due: datetime) -> None:
        """Arm (or re-arm) timer `name` of a client; an earlier arming is cancelled."""
        self._seq += 1
        self.current[(client_id, name)] = self._seq
        heapq.heappush(self.heap, Timer(due, self._seq, client_id, name))
        if len(self.heap) > 64 and len(self.heap) > 4 * len(self.current):
            self._compact()

    def _compact(self) -> None:
        """Drop cancelled entries (re-armed timers leave one behind each time)."""
        self.heap = [t for t in self.heap if self.current.get((t.client_id, t.name)) == t.seq]
        heapq.heapify(self.heap)

    def cancel(self, client_id: str, name: str) -> None:
        """Disarm a timer (its heap entry is skipped when it comes due)."""
        self.current.pop((client_id, name), None)

    def armed(self, client_id: str, name: str) -> bool:
        """True when the timer is armed."""
        return (client_id, name) in self.current

    def pop_due(self, watermark: datetime, *, inclusive: bool) -> Timer | None:
        """The next live timer due by the watermark, removed; None when there is none."""
        heap = self.heap
        while heap:
            top = heap[0]
            if top.due > watermark or (not inclusive and top.due == watermark):
                return None
            heapq.heappop(heap)
            key = (top.client_id, top.name)
            if self.current.get(key) == top.seq:
                del self.current[key]
                return top
        return None
