"""The timer wheel fires exactly like a wheel that pushes every arming (lazy re-arming)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.timers import Timer, TimerWheel

T0 = datetime(2026, 3, 29, tzinfo=UTC)


@dataclass
class EagerWheel:
    """Reference: every arming is pushed; stale entries are skipped when due."""

    heap: list[Timer] = field(default_factory=list)
    current: dict[tuple[str, str], int] = field(default_factory=dict)
    seq: int = 0

    def set(self, client_id: str, name: str, due: datetime) -> None:
        self.seq += 1
        self.current[(client_id, name)] = self.seq
        heapq.heappush(self.heap, Timer(due, self.seq, client_id, name))

    def cancel(self, client_id: str, name: str) -> None:
        self.current.pop((client_id, name), None)

    def pop_due(self, watermark: datetime, *, inclusive: bool) -> Timer | None:
        while self.heap:
            top = self.heap[0]
            if top.due > watermark or (not inclusive and top.due == watermark):
                return None
            heapq.heappop(self.heap)
            key = (top.client_id, top.name)
            if self.current.get(key) == top.seq:
                del self.current[key]
                return top
        return None


KEYS = st.tuples(st.sampled_from(["c1", "c2"]), st.sampled_from(["fall", "exit", "off", "d1"]))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, st.integers(-5, 40)),
        st.tuples(st.just("cancel"), KEYS, st.just(0)),
        st.tuples(st.just("advance"), KEYS, st.integers(0, 15)),
        st.tuples(st.just("advance_incl"), KEYS, st.integers(0, 15)),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(OPS, st.integers(1, 20))
def test_lazy_wheel_fires_like_eager_wheel(
    ops: list[tuple[str, tuple[str, str], int]], rearm: int
) -> None:
    lazy, eager = TimerWheel(), EagerWheel()
    now = 0
    for op, (client, name), n in ops:
        if op == "set":
            due = T0 + timedelta(minutes=now + n)
            lazy.set(client, name, due)
            eager.set(client, name, due)
        elif op == "cancel":
            lazy.cancel(client, name)
            eager.cancel(client, name)
        else:
            now += n
            wm = T0 + timedelta(minutes=now)
            inclusive = op == "advance_incl"
            while True:
                got, want = (
                    lazy.pop_due(wm, inclusive=inclusive),
                    eager.pop_due(wm, inclusive=inclusive),
                )
                assert got == want
                if got is None:
                    break
                if got.name == "fall":  # rules re-arm while timers fire
                    due = wm + timedelta(minutes=rearm)
                    lazy.set(got.client_id, got.name, due)
                    eager.set(got.client_id, got.name, due)
        assert lazy.current == eager.current
    end = T0 + timedelta(days=2)
    while (want := eager.pop_due(end, inclusive=True)) is not None:
        assert lazy.pop_due(end, inclusive=True) == want
    assert lazy.pop_due(end, inclusive=True) is None
