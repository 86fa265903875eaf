"""End-to-end fixtures: the real server (HTTP on a free port, real Mosquitto, real DB, the
ingest running) and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from hub.api.app import create_app
from hub.broker.dynsec import DynSecClient
from hub.broker.embedded import free_port
from hub.ingest.service import IngestConfig, IngestService
from hub.robots.publisher import Publisher
from tests.conftest import RunningBroker

CHROMIUM = os.environ.get("CAREHUB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    """A running hub: base URL, its database and ingest."""

    url: str
    sessions: sessionmaker[Session]
    ingest: IngestService
    broker: RunningBroker


@pytest.fixture
def robot_publisher() -> Publisher | None:
    """The hub's robot command publisher for the live server; a test module that needs robots
    to receive their schedules overrides this fixture with a real one."""
    return None


@pytest.fixture
def live_server(
    broker: RunningBroker, sessions: sessionmaker[Session], robot_publisher: Publisher | None
) -> Iterator[LiveServer]:
    ingest = IngestService(
        IngestConfig(address=broker.hub, client_id=f"e2e-{uuid.uuid4().hex[:8]}"), sessions
    )
    ingest.start()
    assert ingest.wait_connected()
    port = free_port()

    @contextmanager
    def control() -> Iterator[DynSecClient]:
        with DynSecClient(broker.admin) as ctl:
            yield ctl

    app = create_app(
        sessions,
        ready=lambda: (ingest.stats.connected, "ingest"),
        device_control=control,
        broker_public={"host": "127.0.0.1", "port": broker.port},
        robot_publisher=robot_publisher,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield LiveServer(f"http://127.0.0.1:{port}", sessions, ingest, broker)
    server.should_exit = True
    thread.join(10)
    ingest.stop()


@pytest.fixture(scope="module")  # Playwright's loop must not outlive the browser tests
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: the Makefile installs the Debian 'chromium' package")
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def screenshot(page: object, name: str) -> Path:
    """Save a screenshot under test-artifacts/ (kept by CI; look at them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
