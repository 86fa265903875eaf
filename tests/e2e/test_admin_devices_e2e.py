"""An administrator provisions a device in the browser; the device connects with the
credentials shown once, publishes through the real broker, and shows as online."""

from __future__ import annotations

import json
from typing import Any

from hub.auth.service import create_user
from hub.broker.dynsec import BrokerAddress
from hub.store.db import unit_of_work
from hub.store.models import Device
from tests.e2e.conftest import LiveServer, screenshot
from tests.integration.mqtt_helpers import TestDevice, wait_until


def _login(page: Any, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill("demo-wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url + "/")


def test_admin_provisions_a_device_that_then_comes_online(
    live_server: LiveServer, browser: Any
) -> None:
    with unit_of_work(live_server.sessions) as s:
        create_user(
            s,
            username="beheer",
            password="demo-wachtwoord",
            display_name="Beheerder (demo)",
            role="admin",
        )
        create_user(
            s, username="anna", password="demo-wachtwoord", display_name="Anna (demo)", role="nurse"
        )
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    _login(page, live_server.url, "beheer")
    page.goto(live_server.url + "/admin/homes")
    page.get_by_label("id").fill("home-e2e1")
    page.get_by_label("Naam").fill("Woning de Vries (fictief)")
    page.get_by_role("button", name="Woning toevoegen").click()
    assert "home-e2e1" in page.inner_text("table")
    page.goto(live_server.url + "/admin/devices")
    page.get_by_label("Soort").select_option("motion")
    page.get_by_label("Woning").select_option("home-e2e1")
    page.get_by_label("Omschrijving").fill("PIR badkamer")
    page.get_by_role("button", name="Apparaat aanmelden").click()
    creds = json.loads(page.inner_text("#credentials"))
    screenshot(page, "admin-device-provisioned")
    mqtt = creds["mqtt"]
    with TestDevice(
        BrokerAddress(mqtt["host"], mqtt["port"], mqtt["username"], mqtt["password"])
    ) as dev:
        dev.send_motion()

        def online() -> bool:
            with live_server.sessions() as s:
                d = s.get(Device, creds["device_id"])
                return d is not None and d.status == "online"

        wait_until(online, 10, "device online")
    page.reload()
    row = page.get_by_role("row").filter(has_text=creds["device_id"])
    assert "online" in row.inner_text()
    # The password is shown once: not on the page any more, not in the database.
    assert mqtt["password"] not in page.content()
    with live_server.sessions() as s:
        d = s.get(Device, creds["device_id"])
        assert d is not None
        assert mqtt["password"] not in d.password_hash
    # A nurse does not even learn that the admin pages exist.
    nurse = browser.new_context(locale="nl-NL").new_page()
    _login(nurse, live_server.url, "anna")
    assert nurse.goto(live_server.url + "/admin/devices").status == 404
    assert creds["device_id"] not in nurse.content()
    ctx.close()
