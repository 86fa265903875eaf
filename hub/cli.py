"""The `carehub` command line."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devices.kinds import Kind
from hub.settings import Settings, get_settings

app = typer.Typer(
    help="carehub: event-driven technology hub for Dutch home care.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
devices_app = typer.Typer(help="Provision, list and revoke devices.", no_args_is_help=True)
homes_app = typer.Typer(help="Homes where devices are installed.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices")
app.add_typer(homes_app, name="homes")

console = Console(stderr=True)
CLI_SOURCE = "cli"


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


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
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@app.command()
def serve(
    http: Annotated[bool, typer.Option(help="Serve the web UI and API")] = True,
    migrate: Annotated[bool, typer.Option(help="Migrate the database first")] = True,
) -> None:
    """Run the hub: ingest (and the HTTP API unless --no-http)."""
    from hub.runtime import open_runtime

    settings = get_settings()
    _setup_logging(settings)
    rt = open_runtime(settings, migrate=migrate)
    ingest = rt.start_ingest()
    try:
        if http:
            import uvicorn

            from hub.api.app import create_app

            def ready() -> tuple[bool, str]:
                return (
                    ingest.stats.connected,
                    "ingest connected"
                    if ingest.stats.connected
                    else "ingest not connected to the broker",
                )

            uvicorn.run(
                create_app(rt.sessions, ready=ready),
                host=settings.http_host,
                port=settings.http_port,
                log_level=settings.log_level.lower(),
            )
        else:
            console.print("ingest running (no HTTP); Ctrl-C to stop")
            _wait_for_signal()
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
