"""Helpers shared by the simulator tests: run small simulations and index their output."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from simulators.stream import FaultConfig, Message, Simulation

START = date(2026, 10, 19)  # a week that contains the end of summer time (25 October)


@dataclass
class Run:
    """A finished simulation with its messages and truth, indexed for assertions."""

    sim: Simulation
    messages: list[Message]
    truth: list[dict[str, Any]]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # home -> envelopes

    def home_events(self, home_id: str) -> list[dict[str, Any]]:
        """Envelopes of a home in device-time order."""
        return self.events[home_id]


def ts(value: str) -> datetime:
    """Parse an RFC 3339 timestamp of the simulator."""
    return datetime.fromisoformat(value)


def run_sim(
    *,
    homes: int,
    days: int,
    seed: int,
    start: date = START,
    faults: FaultConfig | None = None,
    failure_per_day: float = 0.01,
) -> Run:
    """Run a simulation to the end."""
    sim = Simulation(
        homes=homes,
        days=days,
        seed=seed,
        start=start,
        faults=faults,
        failure_per_day=failure_per_day,
    )
    msgs = list(sim.messages())
    run = Run(sim, msgs, sim.truth())
    by_home: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in msgs:
        if "event" in m.body:
            by_home[m.home_id].append(m.body["event"])
    for evs in by_home.values():
        evs.sort(key=lambda e: e["ts"])
    run.events = dict(by_home)
    return run


@lru_cache(maxsize=4)
def cached_run(homes: int, days: int, seed: int, chaos: bool = False) -> Run:
    """A shared run for read-only tests (simulations are deterministic)."""
    return run_sim(homes=homes, days=days, seed=seed, faults=FaultConfig.chaos() if chaos else None)
