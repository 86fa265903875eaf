"""End-to-end latency: device publish -> alert on an SSE client, at the 10,000-home rate.

The real stack (bench/_common.py): Mosquitto, the hub process (`carehub serve`: ingest,
rules, alerts, HTTP) on SQLite or PostgreSQL, N homes seeded. Two segments in real time:
  steady  - every home replays a simulated home's day from its own phase: the virtual
            homes' average event rate x N (derived from the simulators and printed);
  peak    - 07:00: every home gets up within half an hour (each replays its simulated
            wake-up); the segment is the middle of that wave.
Incidents (a battery below 20 %: the alert is decided on the event itself) are injected
at a steady rate in distinct homes; an SSE client on GET /api/v1/alerts/stream notes when
each arrives. Every second the hub's stored-event counter is compared with what was
published: the backlog shows whether the hub keeps up or its lag grows.

    python bench/latency.py [--homes 10000] [--db sqlite|postgresql] [--steady 60] [--peak 120]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Publisher,
    Sample,
    SseClient,
    alerts_by_rule,
    distinct_homes,
    hub_cpu_s,
    hub_mem_mib,
    machine,
    open_stack,
    peak_plan,
    percentiles,
    steady_plan,
    stored_events,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--homes", type=int, default=10_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--steady", type=float, default=60.0, help="seconds of the steady segment")
    ap.add_argument("--peak", type=float, default=120.0, help="seconds of the 07:00 segment")
    ap.add_argument("--incidents-per-s", type=float, default=2.0)
    ap.add_argument("--sample-homes", type=int, default=100)
    ap.add_argument(
        "--wake-spread-min", type=float, default=30.0, help="every home gets up within this"
    )
    args = ap.parse_args()
    n = args.homes
    print(f"machine: {machine()}; {n:,} homes, {args.db}")
    t = time.perf_counter()
    sample = Sample.generate(args.sample_homes)
    steady = steady_plan(sample, n, int(args.steady * 1000))
    spread = int(args.wake_spread_min * 60_000)
    peak = peak_plan(sample, n, int(args.peak * 1000), spread_ms=spread)
    print(
        f"simulators: {sample.per_home_s * 86_400:,.0f} events per home-day "
        f"= {sample.per_home_s:.4f}/home/s ({len(sample.homes)} virtual homes, "
        f"generated in {time.perf_counter() - t:.0f} s)"
    )
    rate_steady = len(steady) / args.steady
    rate_peak = len(peak) / args.peak
    print(
        f"publish rate: steady {rate_steady:,.0f} events/s (x{n:,} homes), "
        f"07:00 peak {rate_peak:,.0f} events/s (x{rate_peak / rate_steady:.1f}: every home up "
        f"within {args.wake_spread_min:g} min), "
        f"+ {args.incidents_per_s:g} incidents/s"
    )

    stack = open_stack(n, args.db, sample)
    try:
        assert stack.hub is not None
        pid = stack.hub.pid
        sse = SseClient(stack)
        sse.start()
        pub = Publisher(stack)
        samples: list[tuple[float, int, int]] = []  # (time, published, stored)
        done = threading.Event()

        def sample_lag() -> None:
            while not done.is_set():
                samples.append((time.time(), pub.sent, stored_events(stack)))
                time.sleep(1.0)

        cpu0, base = hub_cpu_s(pid), stored_events(stack)
        sampler = threading.Thread(target=sample_lag, daemon=True)
        sampler.start()
        homes = distinct_homes(n)
        t0 = time.time()
        pub.play(steady, incident_every_s=1 / args.incidents_per_s, incident_homes=homes)
        t1 = time.time()
        pub.play(peak, incident_every_s=1 / args.incidents_per_s, incident_homes=homes)
        t2 = time.time()
        pub.close()
        deadline = time.time() + 120
        while stored_events(stack) - base < pub.sent and time.time() < deadline:
            time.sleep(0.2)
        drained = time.time() - t2
        time.sleep(2)
        done.set()
        sampler.join(5)
        cpu = hub_cpu_s(pid) - cpu0
        rss, hwm = hub_mem_mib(pid)
        by_rule = alerts_by_rule(stack)
        sse.stop.set()
    finally:
        stack.close()

    print(
        f"\npublished {pub.sent:,} events in {t2 - t0:.0f} s (publisher at most "
        f"{pub.behind_max_s:.2f} s behind schedule); hub drained {drained:.1f} s after the end"
    )
    print(
        f"\n{'segment':<10} {'events/s':>9} {'alerts':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for name, a, b, rate in (("steady", t0, t1, rate_steady), ("07:00 peak", t1, t2, rate_peak)):
        lat = [
            (sse.seen[d] - tp) * 1000
            for d, tp in pub.incidents.items()
            if a <= tp < b and d in sse.seen
        ]
        sent = sum(1 for tp in pub.incidents.values() if a <= tp < b)
        p50, p99, mx = percentiles(lat)
        print(
            f"{name:<10} {rate:>9,.0f} {len(lat):>4}/{sent:<4} {p50:>8.0f} {p99:>8.0f} {mx:>8.0f}"
        )
    print("\nhub lag over time (backlog = published - stored; lag = backlog / publish rate)")
    print(
        f"{'t s':>5} {'segment':<10} {'published':>10} {'stored':>10} {'backlog':>8} {'lag s':>6}"
    )
    peak_backlog: list[tuple[float, int]] = []
    for i, (ts, sent, stored) in enumerate(samples):
        backlog = max(0, sent - (stored - base))
        seg = "steady" if ts < t1 else ("07:00 peak" if ts < t2 else "drain")
        rate = rate_steady if seg == "steady" else rate_peak
        if seg == "07:00 peak":
            peak_backlog.append((ts - t1, backlog))
        if i % 10 == 0 or seg == "drain":
            print(
                f"{ts - t0:>5.0f} {seg:<10} {sent:>10,} {stored - base:>10,} {backlog:>8,} "
                f"{backlog / rate:>6.1f}"
            )
    if len(peak_backlog) >= 6:
        third = len(peak_backlog) // 3
        first = sum(b for _, b in peak_backlog[:third]) / third
        last = sum(b for _, b in peak_backlog[-third:]) / third
        verdict = (
            "keeps up (no growing lag)" if last <= max(first * 1.5, rate_peak) else "FALLS BEHIND"
        )
        print(
            f"07:00 peak: mean backlog {first:,.0f} events in its first third, {last:,.0f} in "
            f"its last third -> {verdict}"
        )
    events = pub.sent
    print(
        f"\nhub process: {cpu:.1f} CPU s for {events:,} events = {cpu / events * 1000:.3f} CPU s "
        f"per 1,000 events; RSS {rss:.0f} MiB (peak {hwm:.0f} MiB)"
    )

    rules = ", ".join(f"{k} {v:,}" for k, v in sorted(by_rule.items()))
    print(f"alerts in the store after the run: {rules}")


if __name__ == "__main__":
    main()
