"""`carehub simulate`: virtual homes to JSONL files and/or through the broker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from devices.payloads import DosePlan, RobotSchedule
from simulators.homes import HomeSpec
from simulators.life import AMS
from simulators.runner import gc_tuned, parse_speed, run
from simulators.sinks import JsonlSink, Sink, write_manifest, write_truth
from simulators.stream import FaultConfig, Simulation

console = Console(stderr=True)

FAULT_NAMES = ("disconnect", "duplicate", "reorder", "skew", "malformed")


def parse_faults(spec: str) -> FaultConfig:
    """'none', 'all', or a comma list of disconnect,duplicate,reorder,skew,malformed."""
    s = spec.strip().lower()
    if s in ("", "none"):
        return FaultConfig()
    chaos = FaultConfig.chaos()
    if s == "all":
        return chaos
    names = {x.strip() for x in s.split(",") if x.strip()}
    unknown = names - set(FAULT_NAMES)
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}; use {FAULT_NAMES}")
    return FaultConfig(
        disconnects_per_device_day=chaos.disconnects_per_device_day if "disconnect" in names else 0,
        duplicate_rate=chaos.duplicate_rate if "duplicate" in names else 0,
        reorder_rate=chaos.reorder_rate if "reorder" in names else 0,
        max_clock_skew_s=chaos.max_clock_skew_s if "skew" in names else 0,
        malformed_rate=chaos.malformed_rate if "malformed" in names else 0,
    )


class CommandInbox:
    """The newest dose plan / robot schedule each device received on its command topic."""

    def __init__(self) -> None:
        self.commands: dict[tuple[str, str], BaseModel] = {}

    def receive(self, device_id: str, name: str, command: BaseModel) -> None:
        """Keep a validated command unless a higher version is already applied.

        Commands are retained and QoS 1: a redelivered older version must not win.
        """
        held = self.commands.get((device_id, name))
        if held is None or getattr(command, "version", 0) >= getattr(held, "version", 0):
            self.commands[(device_id, name)] = command

    def plans(self, home: HomeSpec, _day: date) -> tuple[Any, Any]:
        """Plans to use for `home` from a day on: received ones, else the manifest's."""
        dose = self.commands.get((home.by_key["dispenser"].device_id, "dose_plan"))
        sched = self.commands.get((home.by_key["robot"].device_id, "schedule"))
        return (
            dose if isinstance(dose, DosePlan) else None,
            sched if isinstance(sched, RobotSchedule) else None,
        )


def run_simulation(
    *,
    homes: int,
    days: int,
    seed: int,
    speed: str = "max",
    start: date | None = None,
    faults: FaultConfig | None = None,
    events_out: Path | None = None,
    truth_out: Path | None = None,
    homes_out: Path | None = None,
    mqtt_host: str | None = None,
    mqtt_port: int = 1883,
    passwords: Mapping[str, str] | None = None,
    max_connections: int = 200,
    show_progress: bool = False,
    workers: int = 1,
) -> int:
    """Run a simulation into the chosen sinks; returns the number of published messages.

    With `workers` > 1, an accelerated run that only writes files uses that many processes
    (same bytes as one process).
    """
    # Only a run as fast as possible tunes the collector: a paced run may live for days
    # inside the hub process (`carehub run`), which must keep its own GC settings.
    tune = gc_tuned() if parse_speed(speed) is None else contextlib.nullcontext()
    with tune:
        return _run(
            homes=homes,
            days=days,
            seed=seed,
            speed=speed,
            start=start,
            faults=faults,
            events_out=events_out,
            truth_out=truth_out,
            homes_out=homes_out,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            passwords=passwords,
            max_connections=max_connections,
            show_progress=show_progress,
            workers=workers,
        )


def _run(
    *,
    homes: int,
    days: int,
    seed: int,
    speed: str,
    start: date | None,
    faults: FaultConfig | None,
    events_out: Path | None,
    truth_out: Path | None,
    homes_out: Path | None,
    mqtt_host: str | None,
    mqtt_port: int,
    passwords: Mapping[str, str] | None,
    max_connections: int,
    show_progress: bool,
    workers: int,
) -> int:
    factor = parse_speed(speed)
    today = datetime.now(AMS).date()
    start = start or today
    if workers > 1 and factor is None and mqtt_host is None and events_out is not None:
        return _run_parallel(
            homes=homes,
            days=days,
            seed=seed,
            start=start,
            faults=faults,
            events_out=events_out,
            truth_out=truth_out,
            homes_out=homes_out,
            workers=workers,
            show_progress=show_progress,
        )
    inbox = CommandInbox()
    sim = Simulation(
        homes=homes, days=days, seed=seed, start=start, faults=faults, plans=inbox.plans
    )
    if homes_out is not None:
        write_manifest(homes_out, sim.manifest())
    sinks: list[Sink] = []
    if events_out is not None:
        sinks.append(JsonlSink(events_out, batch=4096 if factor is None else 1))
    if mqtt_host is not None:
        from simulators.mqtt_sink import MqttSink

        sinks.append(
            MqttSink(
                host=mqtt_host,
                port=mqtt_port,
                passwords=passwords or {},
                max_connections=max_connections,
                on_command=inbox.receive,
            )
        )
    # A real-time run that starts today begins now: earlier events of today are skipped.
    skip = None
    if factor == 1.0 and start == today:
        skip = int(datetime.now(UTC).timestamp() * 1000)
    origin = skip if skip is not None else sim.start_ms
    total = sim.end_ms - sim.start_ms
    try:
        if not show_progress:
            n = run(
                sim.messages(), sinks, factor=factor, origin_ms=origin, skip_events_before_ms=skip
            )
        else:
            with Progress(
                TextColumn("[bold]simulating[/bold] {task.fields[when]}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%  {task.fields[count]} msgs"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("sim", total=total, when="", count=0)
                seen = [0]

                def tick(msg: Any) -> None:
                    seen[0] += 1
                    if seen[0] % 5000 == 0 or factor is not None:
                        when = datetime.fromtimestamp(msg.at_ms / 1000, AMS).strftime(
                            "%a %d %b %H:%M"
                        )
                        bar.update(
                            task, completed=msg.at_ms - sim.start_ms, when=when, count=seen[0]
                        )

                n = run(
                    sim.messages(),
                    sinks,
                    factor=factor,
                    origin_ms=origin,
                    skip_events_before_ms=skip,
                    progress=tick,
                )
                bar.update(task, completed=total, count=n)
    finally:
        for sink in sinks:
            sink.close()
    if truth_out is not None:
        write_truth(truth_out, sim.truth())
    return n


def _run_parallel(
    *,
    homes: int,
    days: int,
    seed: int,
    start: date,
    faults: FaultConfig | None,
    events_out: Path,
    truth_out: Path | None,
    homes_out: Path | None,
    workers: int,
    show_progress: bool,
) -> int:
    from simulators.parallel import write_events_parallel

    sim = Simulation(homes=homes, days=days, seed=seed, start=start, faults=faults)
    if homes_out is not None:
        write_manifest(homes_out, sim.manifest())
    if not show_progress:
        n, truth = write_events_parallel(
            homes=homes,
            days=days,
            seed=seed,
            start=start,
            faults=faults,
            events_out=events_out,
            workers=workers,
        )
    else:
        with Progress(
            TextColumn(f"[bold]simulating[/bold] ({workers} processes)"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%  {task.fields[count]} msgs"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("sim", total=sim.end_ms - sim.start_ms, count=0)

            def tick(at_ms: int, count: int) -> None:
                bar.update(task, completed=at_ms - sim.start_ms, count=count)

            n, truth = write_events_parallel(
                homes=homes,
                days=days,
                seed=seed,
                start=start,
                faults=faults,
                events_out=events_out,
                workers=workers,
                progress=tick,
            )
    if truth_out is not None:
        write_truth(truth_out, truth)
    return n


def simulate(
    homes: Annotated[int, typer.Option(min=1, max=10_000, help="Number of homes")] = 10,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days to simulate")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same output")] = 1,
    speed: Annotated[
        str, typer.Option(help="max (as fast as possible), realtime, or a factor such as 60")
    ] = "max",
    events_out: Annotated[
        Path | None, typer.Option(help="Event log JSONL (docs/event-log.md)")
    ] = None,
    truth_out: Annotated[
        Path | None, typer.Option(help="Ground truth JSONL: incidents and look-alikes")
    ] = None,
    homes_out: Annotated[
        Path | None, typer.Option(help="Home manifest JSON: devices, dose plans, care plans")
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day (local); default today"),
    ] = None,
    faults: Annotated[
        str, typer.Option(help="none, all, or a list: disconnect,duplicate,reorder,skew,malformed")
    ] = "none",
    mqtt_host: Annotated[
        str | None, typer.Option(help="Publish through this broker (each device as itself)")
    ] = None,
    mqtt_port: Annotated[int, typer.Option(help="Broker port")] = 1883,
    passwords: Annotated[
        Path | None, typer.Option(help="JSON file {device_id: password} for --mqtt-host")
    ] = None,
    max_connections: Annotated[
        int, typer.Option(min=1, help="Most device connections open at once")
    ] = 200,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes for --speed max to files only (same output for any number; "
            "pays off on idle multi-core machines)",
        ),
    ] = 1,
) -> None:
    """Simulate homes with residents and devices; write events, truth and manifest."""
    try:
        fault_cfg = parse_faults(faults)
        parse_speed(speed)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if events_out is None and mqtt_host is None:
        console.print("[yellow]no --events-out and no --mqtt-host: events go nowhere[/yellow]")
    creds: dict[str, str] = {}
    if passwords is not None:
        creds = {str(k): str(v) for k, v in json.loads(passwords.read_text()).items()}
    n = run_simulation(
        homes=homes,
        days=days,
        seed=seed,
        speed=speed,
        start=start.date() if start is not None else None,
        faults=fault_cfg,
        events_out=events_out,
        truth_out=truth_out,
        homes_out=homes_out,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        passwords=creds,
        max_connections=max_connections,
        show_progress=True,
        workers=workers,
    )
    console.print(f"{n} messages from {homes} homes over {days} days")


def main() -> None:
    """Run `simulate` standalone (python -m simulators.cli)."""
    typer.run(simulate)


if __name__ == "__main__":
    main()
