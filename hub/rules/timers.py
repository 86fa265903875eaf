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
    """Timers of one home, ordered by (due, creation order).

    Re-arming a timer later than its entry already in the heap pushes nothing: that entry
    (the key's anchor) stands in, and when it comes due the current arming is pushed with
    its own (due, creation order). Live timers therefore fire in exactly the order of an
    eager push, while the rules may re-arm a timer on every event cheaply.
    """

    heap: list[Timer] = field(default_factory=list)
    current: dict[tuple[str, str], int] = field(default_factory=dict)
    _due: dict[tuple[str, str], datetime] = field(default_factory=dict)  # of the current arming
    _anchor: dict[tuple[str, str], Timer] = field(default_factory=dict)  # earliest heap entry
    _seq: int = 0

    def set(self, client_id: str, name: str, due: datetime) -> None:
        """Arm (or re-arm) timer `name` of a client; an earlier arming is cancelled."""
        self._seq += 1
        key = (client_id, name)
        self.current[key] = self._seq
        self._due[key] = due
        anchor = self._anchor.get(key)
        if anchor is not None and anchor.due <= due:
            return  # the anchor comes due first and pushes this arming then
        timer = Timer(due, self._seq, client_id, name)
        self._anchor[key] = timer
        heapq.heappush(self.heap, timer)
        if len(self.heap) > 64 and len(self.heap) > 4 * len(self.current):
            self._compact()

    def _compact(self) -> None:
        """Drop entries that stand for nothing (replaced by an earlier one, or cancelled)."""
        anchors = self._anchor
        live = self.current
        for key in [k for k in anchors if k not in live]:
            del anchors[key]
        self.heap = [t for t in self.heap if anchors.get((t.client_id, t.name)) is t]
        heapq.heapify(self.heap)

    def cancel(self, client_id: str, name: str) -> None:
        """Disarm a timer (its heap entry is skipped when it comes due)."""
        self.current.pop((client_id, name), None)
        self._due.pop((client_id, name), None)

    def due(self, client_id: str, name: str) -> datetime | None:
        """When the timer is due, or None when it is not armed."""
        return self._due.get((client_id, name))

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
            if self._anchor.get(key) is not top:
                continue  # superseded by an earlier anchor
            seq = self.current.get(key)
            if seq == top.seq:
                del self.current[key]
                del self._due[key]
                del self._anchor[key]
                return top
            if seq is None:
                del self._anchor[key]  # cancelled
                continue
            # Re-armed later: push the current arming as an eager set would have.
            later = Timer(self._due[key], seq, top.client_id, top.name)
            self._anchor[key] = later
            heapq.heappush(heap, later)
        return None
