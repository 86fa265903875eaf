"""Simulator benchmark: accelerated mode, simulated events per second.

Runs N homes x D days (default 100 x 14) on the simulated clock, once generating only and
once writing the JSONL event log, truth and manifest as `carehub simulate` does, and
prints messages/s and wall time of each.

    python bench/simulate.py [--homes 100] [--days 14] [--seed 1] [--faults none|all]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.cli import parse_faults, run_simulation  # noqa: E402
from simulators.runner import gc_tuned  # noqa: E402
from simulators.stream import Simulation  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--homes", type=int, default=100)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", default="none")
    args = ap.parse_args()
    start = date(2026, 10, 19)
    faults = parse_faults(args.faults)
    print(f"{args.homes} homes x {args.days} days, seed {args.seed}, faults {args.faults}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulation(homes=args.homes, days=args.days, seed=args.seed, start=start, faults=faults)
    with gc_tuned():  # as `carehub simulate` runs it
        n = sum(1 for _ in sim.messages())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"generate only : {n:>9,} messages  {wall:6.1f} s wall  {cpu:6.1f} s CPU  "
        f"{n / wall:>9,.0f} msg/s  ({n / cpu:,.0f} msg/CPU-s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0, c0 = time.perf_counter(), time.process_time()
        n = run_simulation(
            homes=args.homes,
            days=args.days,
            seed=args.seed,
            start=start,
            faults=faults,
            events_out=out / "events.jsonl",
            truth_out=out / "truth.jsonl",
            homes_out=out / "homes.json",
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = (out / "events.jsonl").stat().st_size
        truth = sum(1 for _ in (out / "truth.jsonl").open())
    print(
        f"to JSONL files: {n:>9,} messages  {wall:6.1f} s wall  {cpu:6.1f} s CPU  "
        f"{n / wall:>9,.0f} msg/s  ({size / 1e6:,.0f} MB log, {truth:,} truth lines)"
    )
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0, c0 = time.perf_counter(), time.process_time()
        n = run_simulation(
            homes=args.homes,
            days=args.days,
            seed=args.seed,
            start=start,
            faults=faults,
            events_out=out / "events.jsonl",
            truth_out=out / "truth.jsonl",
            homes_out=out / "homes.json",
            workers=workers,
        )
        wall = time.perf_counter() - t0
    print(
        f"to JSONL, {workers} processes: {n:>9,} messages  {wall:6.1f} s wall  "
        f"{n / wall:>9,.0f} msg/s  (carehub simulate --workers N)"
    )
    print(f"per home-day  : {n / (args.homes * args.days):,.0f} messages")


if __name__ == "__main__":
    main()
