"""The `carehub` command line."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from devices.kinds import Kind
from etrs.importers.cli import import_list as import_list_cmd
from hub.rules.cli import evaluate as evaluate_cmd
from hub.rules.cli import replay as replay_cmd
from hub.settings import Settings, get_settings
from simulators.cli import simulate as simulate_cmd

if TYPE_CHECKING:
    from hub.demo import DemoSeed
    from hub.ingest.service import IngestService
    from hub.runtime import Runtime

app = typer.Typer(
    help="carehub: event-driven technology hub for Dutch home care.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
devices_app = typer.Typer(help="Provision, list and revoke devices.", no_args_is_help=True)
homes_app = typer.Typer(help="Homes where devices are installed.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")
app.add_typer(homes_app, name="homes")
app.command("simulate")(simulate_cmd)
app.command("import-list")(import_list_cmd)
app.command("replay")(replay_cmd)
app.command("evaluate")(evaluate_cmd)

console = Console(stderr=True)
CLI_SOURCE = "cli"
HISTORY_DAYS = 14


def _setup_logging(settings: Settings) -> None:
    from hub.logging_setup import configure_logging

    configure_logging(level=settings.log_level, json_lines=settings.log_json)


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    from hub.store.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    console.print(f"database at head: {settings.db_url.split('@')[-1]}")


@app.command()
def broker() -> None:
    """Run the embedded Mosquitto with the project's config until interrupted."""
    from hub.broker.embedded import EmbeddedBroker

    settings = get_settings()
    _setup_logging(settings)
    b = EmbeddedBroker(
        settings.data_dir / "mosquitto",
        port=settings.broker_port,
        mosquitto_bin=settings.mosquitto_bin,
    )
    b.start()
    console.print(f"Mosquitto on 127.0.0.1:{settings.broker_port} (state in {b.state_dir})")
    _wait_for_signal()
    b.stop()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


# SIGTERM (docker stop, systemd, kill) and SIGHUP (the terminal closed) stop as Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP a Ctrl-C (SIGINT), so `finally` stops broker and hub.

    Mosquitto runs in its own session and only the hub's shutdown stops it. With the
    default handlers, SIGTERM before the web server ran, or re-raised by uvicorn after its
    own graceful shutdown, ended the process at once and orphaned the broker; SIGHUP did so
    always. As SIGINT, uvicorn (while it runs) shuts down gracefully and then re-raises it,
    which ends in KeyboardInterrupt like any Ctrl-C. Further SIGTERM/SIGHUP while the hub
    drains are ignored.
    """

    def interrupt(_signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        signal.raise_signal(signal.SIGINT)

    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt)


def _serve_http(rt: Runtime, ingest: IngestService, settings: Settings, *, log_level: str) -> None:
    """The web UI and API in the foreground until interrupted."""
    from datetime import UTC, datetime

    import uvicorn

    from hub.api.app import create_app
    from hub.robots.publisher import PahoPublisher
    from hub.robots.service import republish_unpublished
    from hub.store.db import unit_of_work

    def ready() -> tuple[bool, str]:
        ok = ingest.stats.connected
        return ok, "ingest connected" if ok else "ingest not connected to the broker"

    with PahoPublisher(rt.hub_address) as publisher:
        # Schedules changed while the broker was away go out now.
        with unit_of_work(rt.sessions) as session:
            republish_unpublished(session, publisher=publisher, now=datetime.now(UTC))
        app = create_app(
            rt.sessions,
            ready=ready,
            device_control=rt.control,
            broker_public={"host": rt.hub_address.host, "port": rt.hub_address.port},
            ingest=ingest,
            robot_publisher=publisher,
        )
        if rt.rules is not None:  # an edited care plan reaches the running rules at once
            rules = rt.rules

            def care_plan_changed(client_id: str) -> None:
                with unit_of_work(rt.sessions) as session:
                    rules.reload_plan(session, client_id=client_id)

            app.state.care_plan_changed = care_plan_changed
        # log_config=None: uvicorn's loggers go through our handler (text or JSON lines).
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=log_level,
            log_config=None,
        )


def _seed_demo(rt: Runtime, settings: Settings, *, homes: int, seed: int) -> DemoSeed:
    """Demo organisation and provisioned devices of the simulated homes (idempotent)."""
    from hub import demo as demo_data
    from hub.store.db import unit_of_work
    from simulators.homes import build_home

    specs = [build_home(i, seed) for i in range(1, homes + 1)]
    with unit_of_work(rt.sessions) as session, rt.control() as ctl:
        return demo_data.seed(
            session, control=ctl, homes=specs, secrets_file=settings.data_dir / "demo-devices.json"
        )


@app.command()
def serve(
    http: Annotated[bool, typer.Option(help="Serve the web UI and API")] = True,
    migrate: Annotated[bool, typer.Option(help="Migrate the database first")] = True,
) -> None:
    """Run the hub: ingest (and the HTTP API unless --no-http)."""
    from hub.runtime import open_runtime

    settings = get_settings()
    _setup_logging(settings)
    _stop_on_signals()
    rt = open_runtime(settings, migrate=migrate)
    try:
        if settings.demo:  # compose's demo profile: the simulators read demo-devices.json
            _seed_demo(rt, settings, homes=3, seed=7)
        ingest = rt.start_ingest()
        if http:
            _serve_http(rt, ingest, settings, log_level=settings.log_level.lower())
        else:
            console.print("ingest running (no HTTP); Ctrl-C to stop")
            _wait_for_signal()
    finally:
        rt.close()


@app.command()
def run(
    demo: Annotated[bool, typer.Option(help="Seed demo data and run simulated homes")] = True,
    homes: Annotated[int, typer.Option(help="Simulated homes (with --demo)")] = 3,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = 7,
) -> None:
    """Everything at once (make run): migrate, broker, hub, simulated homes, web UI on :8000."""
    from hub.runtime import open_runtime

    settings = get_settings()
    _setup_logging(settings)
    _stop_on_signals()
    rt = open_runtime(settings)
    try:
        seeded = _seed_demo(rt, settings, homes=homes, seed=seed) if demo else None
        history_marker = settings.data_dir / "demo-history-done"
        if seeded is not None and not history_marker.exists():
            from hub.demo_history import seed_history

            # Two weeks of history (rhythm pictures and baselines need them) go straight
            # into the event store before the rules start: the warm-up learns from them
            # without raising alerts. Through the broker, every past absence timer fired
            # against the wall clock. Idempotent on event id if interrupted.
            seed_history(rt.sessions, homes=homes, seed=seed, days=HISTORY_DAYS, console=console)
            history_marker.touch()
        ingest = rt.start_ingest()
        ingest.wait_connected()
        if seeded is not None:
            from simulators.cli import run_simulation

            passwords = seeded.passwords

            def simulate_forever() -> None:
                # The homes live on in real time from now (the history holds today so far).
                run_simulation(
                    homes=homes,
                    days=365,
                    seed=seed,
                    speed="realtime",
                    mqtt_host=rt.hub_address.host,
                    mqtt_port=rt.hub_address.port,
                    passwords=passwords,
                )

            threading.Thread(target=simulate_forever, name="simulator", daemon=True).start()
        url = f"http://{settings.http_host}:{settings.http_port}"
        console.rule("[bold]carehub is running")
        console.print(f"web UI and API: [bold]{url}[/bold]  (OpenAPI: {url}/docs)")
        console.print(
            f"broker: mqtt://127.0.0.1:{rt.hub_address.port}   database: {settings.db_url}"
        )
        if seeded is not None:
            table = Table("demo account", "password", "role", title="Demo accounts (fictitious)")
            for username, password, role in seeded.users:
                table.add_row(username, password, role)
            console.print(table)
            console.print(
                f"{homes} simulated homes: {HISTORY_DAYS} days of stored history, then live. "
                "Ctrl-C stops everything."
            )
        _serve_http(rt, ingest, settings, log_level="warning")
    finally:
        rt.close()


@homes_app.command("add")
def homes_add(
    home_id: Annotated[str, typer.Argument(help="Home id, e.g. home-0001")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    team: Annotated[str | None, typer.Option(help="Team id owning the home")] = None,
) -> None:
    """Create a home."""
    from hub.devices import service
    from hub.runtime import init_database
    from hub.store.db import unit_of_work

    _engine, sessions = init_database(get_settings())
    with unit_of_work(sessions) as session:
        service.add_home(
            session,
            home_id=home_id,
            name=name or home_id,
            team_id=team,
            actor=_actor(),
            source=CLI_SOURCE,
        )
    console.print(f"home {home_id} created")


@devices_app.command("add")
def devices_add(
    kind: Annotated[Kind, typer.Option(help="Device kind")],
    home: Annotated[str, typer.Option(help="Home id the device is installed in")],
    label: Annotated[str, typer.Option(help="Free text, e.g. 'PIR badkamer'")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print id and credentials as JSON")
    ] = False,
) -> None:
    """Provision a device: its own broker account; the password is shown once."""
    from hub.devices import service
    from hub.runtime import open_runtime
    from hub.store.db import unit_of_work

    settings = get_settings()
    rt = open_runtime(settings)  # starts the embedded broker briefly if none is running
    try:
        with unit_of_work(rt.sessions) as session, rt.control() as ctl:
            device, password = service.provision(
                session,
                control=ctl,
                kind=kind,
                home_id=home,
                label=label,
                actor=_actor(),
                source=CLI_SOURCE,
            )
    except service.NotFound as exc:
        raise _fail(str(exc)) from None
    finally:
        rt.close()
    creds = {
        "device_id": device.id,
        "kind": device.kind,
        "home_id": device.home_id,
        "mqtt": {
            "host": rt.hub_address.host,
            "port": rt.hub_address.port,
            "username": device.id,
            "password": password,
            "client_id": device.id,
        },
    }
    if as_json:
        sys.stdout.write(json.dumps(creds) + "\n")
    else:
        console.print(f"device [bold]{device.id}[/bold] ({device.kind}) in {device.home_id}")
        console.print(f"MQTT username: {device.id}\nMQTT password: {password}  (shown once)")


@devices_app.command("list")
def devices_list(
    home: Annotated[str | None, typer.Option(help="Only this home")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """List devices with status, last seen and battery."""
    from hub.devices import service
    from hub.runtime import init_database

    _engine, sessions = init_database(get_settings())
    with sessions() as session:
        devs = service.list_devices(session, home_id=home)
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "device_id": d.id,
                        "kind": d.kind,
                        "home_id": d.home_id,
                        "status": d.status,
                        "last_seen": d.last_seen.isoformat() if d.last_seen else None,
                        "battery_pct": d.battery_pct,
                    }
                    for d in devs
                ]
            )
            + "\n"
        )
        return
    table = Table("device", "kind", "home", "status", "last seen", "battery")
    for d in devs:
        table.add_row(
            d.id,
            d.kind,
            d.home_id or "-",
            d.status,
            d.last_seen.isoformat(timespec="seconds") if d.last_seen else "-",
            f"{d.battery_pct} %" if d.battery_pct is not None else "-",
        )
    Console().print(table)


@devices_app.command("revoke")
def devices_revoke(device_id: Annotated[str, typer.Argument(help="Device id")]) -> None:
    """Revoke a device: its broker account is deleted and it is disconnected at once."""
    from hub.devices import service
    from hub.runtime import open_runtime
    from hub.store.db import unit_of_work

    rt = open_runtime(get_settings())
    try:
        with unit_of_work(rt.sessions) as session, rt.control() as ctl:
            service.revoke(
                session, control=ctl, device_id=device_id, actor=_actor(), source=CLI_SOURCE
            )
    except service.NotFound as exc:
        raise _fail(str(exc)) from None
    finally:
        rt.close()
    console.print(f"device {device_id} revoked")


def main() -> None:
    """Entry point of the `carehub` script."""
    app()


if __name__ == "__main__":
    main()
