"""Scale curve: how the hub's cost grows with the number of homes (100, 1,000, 10,000).

For each size, a fresh stack (bench/_common.py: Mosquitto, the hub process with rules
and alerts, SQLite or PostgreSQL, N homes seeded) and two measurements:
  1. realistic rate - N homes replay simulated days in real time (the virtual homes'
     rate x N) with battery incidents: publish -> SSE alert latency p50/p99, and the hub
     process's CPU seconds per 1,000 events at that rate;
  2. throughput - a burst of events from the same N homes published as fast as one
     publisher can: the hub's drain rate (events/s) and CPU seconds per 1,000 events.
Memory is the hub process's resident set after both.

    python bench/scale.py [--homes 100,1000,10000] [--db sqlite|postgresql] [--seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Publisher,
    Sample,
    SseClient,
    distinct_homes,
    hub_cpu_s,
    hub_mem_mib,
    machine,
    open_stack,
    percentiles,
    steady_plan,
    stored_events,
)


def _wait_stored(read: Callable[[], int], target: int, timeout: float = 600) -> float:
    """Wait until the hub's stored-event counter reaches `target`; return the time then."""
    deadline = time.time() + timeout
    while read() < target:
        if time.time() > deadline:
            raise TimeoutError(f"stored {read()} of {target}")
        time.sleep(0.05)
    return time.time()


def run_size(n: int, db: str, sample: Sample, seconds: float, burst: int) -> dict[str, float]:
    stack = open_stack(n, db, sample)
    try:
        assert stack.hub is not None
        pid = stack.hub.pid
        sse = SseClient(stack)
        sse.start()
        pub = Publisher(stack)
        homes = distinct_homes(n)
        # 1. realistic rate, with incidents (at most one per home)
        plan = steady_plan(sample, n, int(seconds * 1000))
        every = max(0.5, seconds / max(1, n // 2))
        base, cpu0 = stored_events(stack), hub_cpu_s(pid)
        pub.play(plan, incident_every_s=every, incident_homes=homes)
        sent = pub.sent
        _wait_stored(lambda: stored_events(stack), base + sent)
        time.sleep(1)
        cpu_rate = hub_cpu_s(pid) - cpu0
        lat = [(sse.seen[d] - t) * 1000 for d, t in pub.incidents.items() if d in sse.seen]
        p50, p99, _mx = percentiles(lat)
        # 2. throughput: a burst from the same homes, published flat out
        window = int(burst / (n * sample.per_home_s) * 1000) + 60_000
        big = steady_plan(sample, n, min(window, 86_000_000), seed=9)[:burst]
        base, cpu0 = stored_events(stack), hub_cpu_s(pid)
        t0 = time.time()
        pub.play(big, incident_every_s=1e9, incident_homes=homes, speed=1e9)
        t_pub = time.time() - t0
        t_end = _wait_stored(lambda: stored_events(stack), base + len(big))
        cpu_burst = hub_cpu_s(pid) - cpu0
        rss, hwm = hub_mem_mib(pid)
        pub.close()
        sse.stop.set()
    finally:
        stack.close()
    return {
        "homes": n,
        "rate": len(plan) / seconds,
        "events": sent,
        "alerts": len(lat),
        "incidents": len(pub.incidents),
        "p50": p50,
        "p99": p99,
        "cpu_rate": cpu_rate / sent * 1000,
        "burst": len(big),
        "publish_s": t_pub,
        "throughput": len(big) / (t_end - t0),
        "cpu_burst": cpu_burst / len(big) * 1000,
        "rss": rss,
        "hwm": hwm,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--homes", default="100,1000,10000")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--seconds", type=float, default=60.0, help="realistic-rate run per size")
    ap.add_argument("--burst", type=int, default=20_000, help="events in the throughput burst")
    ap.add_argument("--sample-homes", type=int, default=100)
    args = ap.parse_args()
    sizes = [int(x) for x in args.homes.split(",")]
    print(f"machine: {machine()}; {args.db}; sizes {sizes}")
    sample = Sample.generate(args.sample_homes)
    print(f"simulators: {sample.per_home_s:.4f} events/home/s ({len(sample.homes)} virtual homes)")
    rows = []
    for n in sizes:
        r = run_size(n, args.db, sample, args.seconds, args.burst)
        rows.append(r)
        print(
            f"  {n:,} homes done: {r['events']:,.0f} events at {r['rate']:,.1f}/s, "
            f"burst {r['burst']:,.0f} published in {r['publish_s']:.1f} s",
            flush=True,
        )
    print(
        f"\n{'homes':>7} {'rate ev/s':>10} {'alerts':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU s/1k':>9} | {'max ev/s':>9} {'CPU s/1k':>9} | {'RSS MiB':>8} {'peak':>6}"
    )
    for r in rows:
        print(
            f"{r['homes']:>7,.0f} {r['rate']:>10,.1f} {r['alerts']:>4.0f}/{r['incidents']:<4.0f} "
            f"{r['p50']:>7.0f} {r['p99']:>7.0f} {r['cpu_rate']:>9.3f} | "
            f"{r['throughput']:>9,.0f} {r['cpu_burst']:>9.3f} | {r['rss']:>8.0f} {r['hwm']:>6.0f}"
        )
    print(
        "\nrate ev/s: the virtual homes' rate x homes; CPU s/1k: hub process CPU seconds per "
        "1,000 events (at the realistic rate it includes the idle hub's fixed costs: HTTP, "
        "scheduler ticks); max ev/s: drain rate of the burst (one publisher on the same machine)"
    )


if __name__ == "__main__":
    main()
