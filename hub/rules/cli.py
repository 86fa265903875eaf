"""`carehub replay` and `carehub evaluate` (registered by hub/cli.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from hub.rules import evaluate as ev
from hub.rules.replay import (
    ReplayStats,
    load_manifest,
    naive,
    plans_from_manifest,
    run,
    sibling,
    smart,
    write_alerts,
)


def replay(
    events: Annotated[Path, typer.Argument(help="Event log JSONL (simulator or hub export)")],
    alerts_out: Annotated[Path, typer.Option("--alerts-out", help="Where to write alerts JSONL")],
    homes: Annotated[
        Path | None, typer.Option("--homes", help="Home manifest JSON (care plans per client)")
    ] = None,
    with_naive: Annotated[
        bool,
        typer.Option(
            "--naive/--no-naive", help="Also run the naive rule set into ALERTS.naive.jsonl"
        ),
    ] = True,
) -> None:
    """Run the rule engine over an event log on event time and write every raised alert."""
    manifest = load_manifest(homes)
    plans = plans_from_manifest(manifest)
    stats = ReplayStats()
    with events.open() as fh:
        alerts = run(fh, smart(plans), stats, homes=manifest)
    n = write_alerts(alerts_out, alerts)
    sibling(alerts_out, "meta").write_text(json.dumps(stats.meta(), indent=1))
    msg = f"{stats.events} events, {stats.statuses} statuses, {stats.malformed} malformed, "
    msg += f"{stats.duplicates} duplicates, {len(stats.homes)} homes -> {n} alerts"
    if with_naive:
        nstats = ReplayStats()
        with events.open() as fh:
            nalerts = run(fh, naive(plans), nstats)
        nn = write_alerts(sibling(alerts_out, "naive"), nalerts)
        msg += f" (naive: {nn})"
    typer.echo(msg)


def evaluate(
    truth: Annotated[Path, typer.Option("--truth", help="Ground-truth incidents JSONL")],
    alerts: Annotated[Path, typer.Option("--alerts", help="Alerts JSONL from replay")],
    naive_alerts: Annotated[
        Path | None,
        typer.Option("--naive", help="Naive alerts JSONL (default: ALERTS.naive.jsonl if present)"),
    ] = None,
    hold_min: Annotated[
        float,
        typer.Option(
            "--hold-min",
            help="Minutes an alert stays open after its last update: repeats within are one",
        ),
    ] = ev.HOLD.total_seconds() / 60,
) -> None:
    """Print precision, recall and latency per incident type, and the naive comparison."""
    with truth.open() as fh:
        incidents = ev.read_truth(fh)
    with alerts.open() as fh:
        smart_alerts = ev.read_alerts(fh)
    homes, days = ev.span(ev.load_meta(sibling(alerts, "meta")), incidents, smart_alerts)
    hold = timedelta(minutes=hold_min)
    smart_score = ev.score(incidents, smart_alerts, homes=homes, days=days, hold=hold)
    naive_path = naive_alerts or sibling(alerts, "naive")
    naive_score = None
    if naive_path.exists():
        with naive_path.open() as fh:
            naive_score = ev.score(incidents, ev.read_alerts(fh), homes=homes, days=days, hold=hold)
    typer.echo(f"{homes} homes, {days:.1f} days")
    typer.echo(ev.format_report(smart_score, naive_score))
