"""A nurse logs in on a tablet-sized screen, switches language and logs out."""

from __future__ import annotations

from typing import Any

from hub.auth.service import create_user
from hub.store.db import unit_of_work
from tests.e2e.conftest import LiveServer, screenshot


def test_login_language_and_logout_in_a_real_browser(live_server: LiveServer, browser: Any) -> None:
    with unit_of_work(live_server.sessions) as s:
        create_user(
            s,
            username="anna",
            password="demo-wachtwoord",
            display_name="Anna Jansen (demo)",
            role="nurse",
        )
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    page.goto(live_server.url + "/")
    assert page.url.endswith("/login?next=/")
    screenshot(page, "login")
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill("verkeerd")
    page.get_by_role("button", name="Inloggen").click()
    assert page.get_by_role("alert").inner_text() == "Gebruikersnaam of wachtwoord klopt niet."
    page.get_by_label("Wachtwoord").fill("demo-wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(live_server.url + "/")
    assert "Welkom, Anna Jansen (demo)" in page.inner_text("h1")
    screenshot(page, "home-nurse")
    page.get_by_role("link", name="English").click()
    assert "Welcome" in page.inner_text("h1")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    ctx.close()
