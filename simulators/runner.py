"""Drive a stream into sinks: as fast as possible, in real time, or N times real time."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from simulators.sinks import Sink
from simulators.stream import Message


@contextmanager
def gc_tuned() -> Iterator[None]:
    """Collect cycles rarely while simulating.

    The simulator allocates millions of short-lived, acyclic dicts and tuples; with
    CPython's default thresholds the cyclic collector runs thousands of times over the
    live working set and costs ~40 % of the run. Collection stays on, just rarer.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def parse_speed(speed: str) -> float | None:
    """'max' -> None (no pacing), 'realtime' -> 1.0, '60' or '60x' -> 60.0."""
    s = speed.strip().lower()
    if s == "max":
        return None
    if s in ("realtime", "real-time", "rt"):
        return 1.0
    factor = float(s.removesuffix("x"))
    if not factor > 0:
        raise ValueError(f"speed factor must be positive, got {speed!r}")
    return factor


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall clock and sleep, injected so pacing is testable without waiting."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def run(
    messages: Iterable[Message],
    sinks: Sequence[Sink],
    *,
    factor: float | None,
    origin_ms: int,
    skip_events_before_ms: int | None = None,
    clock: Clock | None = None,
    progress: Callable[[Message], None] | None = None,
) -> int:
    """Publish every message to every sink; returns how many messages were published.

    With a `factor`, simulated time `origin_ms` is mapped to the wall time of the call and
    messages wait for their moment. Events before `skip_events_before_ms` are dropped
    (a real-time run that starts now); status messages are kept, they are retained state.
    """
    clock = clock or Clock()
    wall0 = clock.now()
    n = 0
    for msg in messages:
        if skip_events_before_ms is not None and msg.at_ms < skip_events_before_ms:
            if "status" not in msg.body:
                continue
        elif factor is not None:
            due = wall0 + (msg.at_ms - origin_ms) / 1000.0 / factor
            wait = due - clock.now()
            if wait > 0:
                clock.sleep(wait)
        for sink in sinks:
            sink.publish(msg)
        n += 1
        if progress is not None:
            progress(msg)
    return n
