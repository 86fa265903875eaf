"""Issue 7, test 3: a device's event through the real broker raises an alert that appears on
an open alert board without reload; it is acknowledged and resolved through the board."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import uvicorn
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.envelope import encode
from devices.kinds import Kind
from devices.payloads import DoseMissed, Heartbeat
from hub.alerts.broadcast import broadcaster
from hub.alerts.models import Alert
from hub.api.app import create_app
from hub.auth.service import create_user
from hub.broker.dynsec import DynSecClient
from hub.broker.embedded import free_port
from hub.devices import service as devices
from hub.hooks import default_hooks
from hub.ingest.service import IngestConfig, IngestService
from hub.ingest.store import BatchHook
from hub.rules.careplan import CarePlan
from hub.rules.live import RulesHook
from hub.rules.service import save_care_plan
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Client, Team
from tests.conftest import RunningBroker
from tests.e2e.conftest import LiveServer, screenshot
from tests.integration.mqtt_helpers import TestDevice, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def rules_server(broker: RunningBroker, sessions: sessionmaker[Session]) -> Iterator[LiveServer]:
    """The live server with the rule engine in its ingest, as the running hub has it."""
    ingest = IngestService(
        IngestConfig(
            address=broker.hub,
            client_id=f"e2e-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:6]}",
        ),
        sessions,
        hooks=[*default_hooks(), cast(BatchHook, RulesHook())],  # as hub.runtime does
    )
    ingest.start()
    assert ingest.wait_connected()

    @contextmanager
    def control() -> Iterator[DynSecClient]:
        with DynSecClient(broker.admin) as ctl:
            yield ctl

    app = create_app(sessions, device_control=control)
    port = free_port()
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


def _login(page: Any, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill("demo-wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url + "/")


def _world(server: LiveServer, suffix: str) -> tuple[str, str, str]:
    """Team, home, client, nurse and a provisioned dispenser: (device id, password, client)."""
    now = datetime.now(UTC)
    with unit_of_work(server.sessions) as s, DynSecClient(server.broker.admin) as ctl:
        s.add(Team(id=f"team-{suffix}", name="Wijkteam Noord", kind="day", created_at=now))
        s.flush()
        devices.add_home(
            s,
            home_id=f"home-{suffix}",
            name="Woning Jansen",
            team_id=f"team-{suffix}",
            actor="t",
            source="t",
        )
        s.add(
            Client(
                id=f"client-{suffix}",
                display_name="Mevr. Jansen (fictief)",
                home_id=f"home-{suffix}",
                team_id=f"team-{suffix}",
                created_at=now,
            )
        )
        create_user(
            s,
            username=f"nurse-{suffix}",
            password="demo-wachtwoord",
            display_name="Sanne (demo)",
            role="nurse",
            team_ids=(f"team-{suffix}",),
        )
        # No late-take grace: the alert follows the dispenser's next message at once.
        save_care_plan(s, f"client-{suffix}", CarePlan(dose_late_grace_min=0), "t", "test")
        dev, pw = devices.provision(
            s, control=ctl, kind=Kind.DISPENSER, home_id=f"home-{suffix}", actor="t", source="t"
        )
    return dev.id, pw, f"client-{suffix}"


def _miss_a_dose(server: LiveServer, device_id: str, password: str, dose_id: str) -> None:
    """The dispenser reports a missed dose, then its next heartbeat.

    The care plan's late grace is 0 (see _world): the heartbeat moves the rule engine's
    clock past it, so the missed-dose alert is raised in that heartbeat's batch.
    """
    now = datetime.now(UTC)
    sched = now.replace(microsecond=0) - timedelta(minutes=45)
    seq = int(time.time() * 1000)
    missed = encode(
        id=f"e2e-{uuid.uuid4().hex[:12]}",
        device_id=device_id,
        ts=now - timedelta(seconds=1),
        seq=seq,
        type="dose.missed",
        data=DoseMissed(dose_id=dose_id, scheduled_for=sched, window_min=45),
    )
    beat = encode(
        id=f"e2e-{uuid.uuid4().hex[:12]}",
        device_id=device_id,
        ts=now,
        seq=seq + 1,
        type="heartbeat",
        data=Heartbeat(uptime_s=3600),
    )
    with TestDevice(server.broker.device_address(device_id, password)) as d:
        for typ, payload in (("dose.missed", missed), ("heartbeat", beat)):
            rc = d.publish_raw(topics.event_topic(device_id, typ), payload)
            assert not rc.is_failure, rc


def _open_board(page: Any, url: str) -> None:
    before = broadcaster.subscribers()
    page.goto(url)
    expect(page.locator("#live-state")).to_have_text("Live: nieuwe meldingen verschijnen vanzelf.")
    wait_until(lambda: broadcaster.subscribers() > before, 5, "board subscribed")
    # A marker that a reload would wipe: the alert must arrive without one.
    page.evaluate("window.__carehubNoReload = true")


def test_alert_from_the_broker_appears_live_and_is_acknowledged_and_resolved(
    rules_server: LiveServer, browser: Any
) -> None:
    suffix = uuid.uuid4().hex[:6]
    device_id, password, client_id = _world(rules_server, suffix)
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    _login(page, rules_server.url, f"nurse-{suffix}")
    _open_board(page, rules_server.url + "/alerts")
    expect(page.locator("#empty")).to_be_visible()

    _miss_a_dose(rules_server, device_id, password, "d0800")
    card = page.locator("li.alert", has_text="Medicatie niet genomen")
    # The bound: on the open board within 2 s of the publish, no reload.
    expect(card).to_be_visible(timeout=2000)
    assert page.evaluate("window.__carehubNoReload") is True
    expect(card).to_have_class("card alert sev-high st-open fresh")
    expect(card).to_contain_text("Mevr. Jansen (fictief)")
    expect(page.locator("#announce")).to_contain_text("Nieuwe melding:")
    expect(page.locator("#empty")).to_be_hidden()
    screenshot(page, "alerts-board-day")

    # Sound: off by default, one press turns it on (a toggle, announced as pressed).
    sound = page.get_by_role("button", name="Geluid")
    expect(sound).to_have_attribute("aria-pressed", "false")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")

    card.get_by_role("button", name="Oppakken").click()
    expect(card.locator(".status")).to_have_text("opgepakt")
    expect(card.get_by_role("button", name="Oppakken")).to_have_count(0)
    card.get_by_label("Notitie (niet verplicht)").fill("Gebeld, pilletje alsnog genomen")
    card.get_by_role("button", name="Geen actie nodig").click()
    expect(card).to_have_count(0)
    expect(page.locator("#announce")).to_contain_text("Afgesloten:")
    assert page.evaluate("window.__carehubNoReload") is True

    with rules_server.sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.client_id == client_id)).one()
        assert alert.status == "resolved"
        assert alert.outcome == "no_action_needed"
        assert alert.resolution_note == "Gebeld, pilletje alsnog genomen"
        assert (alert.acknowledged_by or "").startswith("user:")
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.client_id == client_id)))
        # The card's read by the live board is access-logged like the board itself.
        assert {"alert.view", "alert.acknowledged", "alert.resolved"} <= actions

    # Night view: dark, big, fewest controls; keyboard only.
    night = ctx.new_page()
    _open_board(night, rules_server.url + "/alerts?view=night")
    expect(night.locator("body")).to_have_class("night")
    _miss_a_dose(rules_server, device_id, password, "d1300")
    ncard = night.locator("li.alert", has_text="Medicatie niet genomen")
    expect(ncard).to_be_visible(timeout=2000)
    expect(ncard.get_by_label("Sluimeren")).to_have_count(0)  # no snooze at night
    expect(ncard.get_by_label("Notitie (niet verplicht)")).to_have_count(0)
    screenshot(night, "alerts-board-night")
    ncard.get_by_role("button", name="Oppakken").focus()
    night.keyboard.press("Enter")
    expect(ncard.locator(".status")).to_have_text("opgepakt")
    # The day board (still open) followed along without reload.
    expect(page.locator("li.alert .status")).to_have_text("opgepakt")
    assert page.evaluate("window.__carehubNoReload") is True

    # The phone: same board, one column.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="nl-NL", is_mobile=True, has_touch=True
    )
    ppage = phone.new_page()
    _login(ppage, rules_server.url, f"nurse-{suffix}")
    ppage.goto(rules_server.url + "/alerts")
    expect(ppage.locator("li.alert")).to_have_count(1)
    screenshot(ppage, "alerts-board-phone")
    ppage.goto(rules_server.url + "/alerts?view=night")
    screenshot(ppage, "alerts-board-night-phone")
    # Snooze through the day view on the phone (works as a plain form post as well).
    ppage.goto(rules_server.url + "/alerts")
    pcard = ppage.locator("li.alert")
    pcard.get_by_label("Sluimeren").select_option("30")
    pcard.get_by_role("button", name="Sluimer").click()
    expect(pcard).to_contain_text("gesluimerd tot")
    phone.close()
    ctx.close()


def test_board_shows_only_my_teams_alerts_and_needs_a_login(
    rules_server: LiveServer, browser: Any
) -> None:
    suffix = uuid.uuid4().hex[:6]
    device_id, password, _client = _world(rules_server, suffix)
    other = uuid.uuid4().hex[:6]
    _world(rules_server, other)
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    assert page.request.get(rules_server.url + "/alerts/stream").status == 401
    page.goto(rules_server.url + "/alerts")
    assert "/login" in page.url
    _login(page, rules_server.url, f"nurse-{other}")
    _open_board(page, rules_server.url + "/alerts")
    _miss_a_dose(rules_server, device_id, password, "d0800")

    def raised() -> int | None:
        with rules_server.sessions() as s:
            return s.scalar(select(Alert.id).where(Alert.client_id == f"client-{suffix}"))

    wait_until(lambda: raised() is not None, 10, "alert raised")
    alert_id = raised()
    page.wait_for_timeout(500)  # give a wrongly delivered card the chance to show up
    expect(page.locator("li.alert")).to_have_count(0)
    assert page.goto(f"{rules_server.url}/alerts/card/{alert_id}").status == 404
    assert "Jansen" not in page.content()
    ctx.close()
