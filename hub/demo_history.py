"""The demo's history for `make run`: simulated past days written straight into the event store.

Publishing two weeks through the broker while the live hub runs made every past absence
timer fire against the wall clock (hundreds of repeats per client). Instead the history is
generated in process and stored with the ingest's own batch code (same validation, dead
letters and idempotency on event id) but without hooks, before the ingest and the rules
start: the rules' warm-up then learns the baselines from it without raising alerts, and the
rhythm pictures have data. Only device events are stored; the simulated status messages
(online at the start, a dying battery) describe a past the live homes do not continue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session, sessionmaker

from hub.ingest.store import Inbound, store_batch
from hub.store.db import unit_of_work
from simulators.life import AMS
from simulators.stream import Message, Simulation

CHUNK = 2000


@dataclass(frozen=True)
class HistoryResult:
    """What seeding the history did."""

    messages: int  # device events offered to the store
    stored: int  # newly stored (0 on a second run over the same span)
    duplicates: int
    dead_letters: int


def _inbound(msg: Message) -> Inbound:
    return Inbound(
        topic=msg.topic,
        payload=msg.payload(),
        received_at=datetime.fromtimestamp(msg.at_ms / 1000, UTC),
    )


def seed_history(
    sessions: sessionmaker[Session],
    *,
    homes: int,
    seed: int,
    days: int,
    now: datetime | None = None,
    chunk: int = CHUNK,
    console: Console | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HistoryResult:
    """Store `days` local days of simulated history plus today up to `now` (idempotent).

    Same seed, homes and day: the same event ids, so a repeated run stores nothing new.
    `progress(done_ms, total_ms)` or a rich bar on `console` shows how far it is.
    """
    now = now or datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    today = now.astimezone(AMS).date()
    # Today is included up to now: the live simulation starts at now, so the first tick
    # finds no gap of silence since midnight (a not_up for everyone).
    sim = Simulation(homes=homes, days=days + 1, seed=seed, start=today - timedelta(days=days))
    total = max(1, now_ms - sim.start_ms)
    counts = [0, 0, 0, 0]  # messages, stored, duplicates, dead letters

    def flush(batch: list[Inbound]) -> None:
        if not batch:
            return
        with unit_of_work(sessions) as session:
            res = store_batch(session, batch, hooks=[])
        counts[1] += len(res.stored)
        counts[2] += res.duplicates
        counts[3] += res.dead_letters
        batch.clear()

    def run(report: Callable[[int], None]) -> None:
        batch: list[Inbound] = []
        for msg in sim.messages():
            if msg.at_ms >= now_ms:
                break
            if "event" not in msg.body:  # status messages and (without faults, none) raw ones
                continue
            batch.append(_inbound(msg))
            counts[0] += 1
            if len(batch) >= chunk:
                flush(batch)
                report(msg.at_ms - sim.start_ms)
        flush(batch)
        report(total)

    if console is None:
        run(lambda done: progress(done, total) if progress is not None else None)
    else:
        with Progress(
            TextColumn(f"[bold]Demo-geschiedenis: {days} dagen[/bold] {{task.fields[when]}}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%  {task.fields[count]} events"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("history", total=total, when="", count=0)

            def report(done: int) -> None:
                when = datetime.fromtimestamp((sim.start_ms + done) / 1000, AMS)
                bar.update(task, completed=done, when=when.strftime("%a %d %b"), count=counts[0])
                if progress is not None:
                    progress(done, total)

            run(report)
    return HistoryResult(*counts)
