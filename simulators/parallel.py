"""Accelerated JSONL output on several cores: homes are independent, so split them.

Each worker process owns every N-th home and runs its `HomeSim`s; the main process asks
all workers for one simulated day at a time (everything published before the next local
midnight), merges their sorted lines and writes them. The result is byte-identical to
the single-process `Simulation` + `JsonlSink` (tested), because the order key
(publish ms, home index, n) is the same.
"""

from __future__ import annotations

import heapq
import multiprocessing as mp
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from simulators.homes import build_home
from simulators.life import local_ms
from simulators.profiles import Profile
from simulators.runner import gc_tuned
from simulators.stream import FaultConfig, HomeSim, Item, sort_truth

Line = tuple[int, int, int, str]


def _worker(
    conn: Connection,
    indices: list[int],
    seed: int,
    start: date,
    days: int,
    faults: FaultConfig,
    failure_per_day: float,
    profiles: Sequence[Profile] | None,
) -> None:
    with gc_tuned():
        _serve(conn, indices, seed, start, days, faults, failure_per_day, profiles)


def _serve(
    conn: Connection,
    indices: list[int],
    seed: int,
    start: date,
    days: int,
    faults: FaultConfig,
    failure_per_day: float,
    profiles: Sequence[Profile] | None,
) -> None:
    sims = [
        HomeSim(
            build_home(i, seed, profiles),
            seed=seed,
            start=start,
            days=days,
            faults=faults,
            failure_per_day=failure_per_day,
        )
        for i in indices
    ]
    runs = [s.run() for s in sims]
    pending: list[Item | None] = [next(r, None) for r in runs]
    while True:
        horizon = conn.recv()
        if horizon is None:
            break
        out: list[Line] = []
        for k, run in enumerate(runs):
            item = pending[k]
            while item is not None and item[0] < horizon:
                at, idx, n, msg = item
                out.append((at, idx, n, msg.jsonl()))
                item = next(run, None)
            pending[k] = item
        out.sort(key=lambda x: (x[0], x[1], x[2]))
        conn.send(out)
    conn.send([row for s in sims for row in s.truth])
    conn.close()


def write_events_parallel(
    *,
    homes: int,
    days: int,
    seed: int,
    start: date,
    events_out: Path,
    workers: int,
    faults: FaultConfig | None = None,
    failure_per_day: float = 0.01,
    profiles: Sequence[Profile] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Write the event log with `workers` processes; returns (messages, sorted truth)."""
    workers = max(1, min(workers, homes))
    ctx = mp.get_context("spawn")  # no fork of a threaded parent (progress bar, paho)
    conns: list[Connection] = []
    procs = []
    for w in range(workers):
        parent, child = ctx.Pipe()
        indices = list(range(w + 1, homes + 1, workers))
        proc = ctx.Process(
            target=_worker,
            args=(
                child,
                indices,
                seed,
                start,
                days,
                faults or FaultConfig(),
                failure_per_day,
                profiles,
            ),
            daemon=True,
        )
        proc.start()
        child.close()
        conns.append(parent)
        procs.append(proc)
    end_ms = local_ms(start + timedelta(days=days), 0)
    horizons = [local_ms(start + timedelta(days=k), 0) for k in range(1, days)] + [end_ms]
    n = 0
    try:
        with events_out.open("w", encoding="utf-8", newline="\n") as f:
            for c in conns:
                c.send(horizons[0])
            for k in range(len(horizons)):
                chunks: list[list[Line]] = [c.recv() for c in conns]
                # Workers compute the next day while this one is merged and written.
                nxt = horizons[k + 1] if k + 1 < len(horizons) else None
                for c in conns:
                    c.send(nxt)
                lines = [x[3] for x in heapq.merge(*chunks, key=lambda x: (x[0], x[1], x[2]))]
                if lines:
                    f.write("\n".join(lines))
                    f.write("\n")
                n += len(lines)
                if progress is not None:
                    progress(horizons[k], n)
        truth = [row for c in conns for row in c.recv()]
    finally:
        for c in conns:
            c.close()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return n, sort_truth(truth)
