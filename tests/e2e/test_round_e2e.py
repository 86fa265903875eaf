"""A nurse's round in a real browser: sign off, and a high-risk item needing a second nurse."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, screenshot
from tests.integration.test_web_round import PASSWORD, seed_world


def login(browser: Any, url: str, username: str, **ctx: Any) -> Any:
    """A fresh browser context (its own cookies) logged in as `username`."""
    context = browser.new_context(
        viewport=ctx.pop("viewport", {"width": 1024, "height": 768}), locale="nl-NL", **ctx
    )
    page = context.new_page()
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(lambda u: u == url + "/" or "/login?" in u)
    if page.url != url + "/":
        # The login's session token is committed after its redirect is sent (FastAPI ends
        # the unit of work after the response); a fast browser may be bounced once.
        page.goto(url + "/")
    assert page.url == url + "/"
    return page


def test_nurse_signs_off_a_moment_and_it_shows_as_given(
    live_server: LiveServer, browser: Any
) -> None:
    w = seed_world(live_server.sessions)
    page = login(browser, live_server.url, w.anna)
    page.get_by_role("navigation").get_by_role("link", name="Mijn ronde").click()
    page.wait_for_url(live_server.url + "/round")
    card = page.locator("li.moment").filter(has_text="Metoprolol 50mg")
    assert card.get_attribute("data-status") == "open"
    assert "te geven" in card.locator(".status").inner_text()
    screenshot(page, "round-before")
    # The common case is one tap on the round page (the second tap was opening the round).
    card.get_by_role("button", name="Gegeven").click()
    card = page.locator("li.moment").filter(has_text="Metoprolol 50mg")
    expect(card).to_have_attribute("data-status", "given")
    assert "gegeven om" in card.inner_text()
    screenshot(page, "round-given")
    phone = login(browser, live_server.url, w.bram, viewport={"width": 390, "height": 844})
    phone.goto(live_server.url + "/round")
    screenshot(phone, "round-phone")
    phone.context.close()
    page.context.close()


def test_high_risk_item_needs_a_second_nurse_who_confirms_remotely(
    live_server: LiveServer, browser: Any
) -> None:
    w = seed_world(live_server.sessions)
    anna = login(browser, live_server.url, w.anna)
    anna.goto(live_server.url + "/round")
    card = anna.locator("li.moment").filter(has_text="Insuline aspart")
    assert "Dubbele controle" in card.inner_text()
    card.get_by_role("button", name="Gegeven").click()
    anna.wait_for_url(f"{live_server.url}/round/check/*")
    check_url = anna.url
    assert anna.locator("#check-status").inner_text() == "wacht op controle"
    # Alone it cannot be completed: Anna's own credentials do not count as a second person.
    anna.get_by_label("Gebruikersnaam tweede persoon").fill(w.anna)
    anna.get_by_label("Wachtwoord tweede persoon").fill(PASSWORD)
    anna.get_by_label("Ik heb cliënt, middel, dosis en tijdstip zelf gecontroleerd").check()
    anna.get_by_role("button", name="Akkoord").click()
    assert "tweede, andere persoon" in anna.locator("#check-error").inner_text()
    assert anna.locator("#check-status").inner_text() == "wacht op controle"
    anna.goto(check_url)
    anna.get_by_role("button", name="Controle op afstand vragen").click()
    anna.wait_for_selector("#remote-waiting")
    screenshot(anna, "check-waiting")
    # Bram, in his own browser context, finds the request in his inbox and confirms it.
    bram = login(browser, live_server.url, w.bram)
    bram.goto(live_server.url + "/checks")
    request = bram.locator("li.moment").filter(has_text="Insuline aspart")
    assert "8 E" in request.inner_text()
    screenshot(bram, "check-inbox")
    request.get_by_label("Ik heb cliënt, middel, dosis en tijdstip zelf gecontroleerd").check()
    request.get_by_role("button", name="Akkoord").click()
    bram.wait_for_url(f"{live_server.url}/checks?done=confirm")
    assert "Insuline aspart" not in bram.locator("#inbox").inner_text()
    # Anna's waiting page picks the decision up by itself.
    anna.wait_for_function(
        "document.getElementById('check-status').textContent.trim() === 'gegeven'", timeout=10_000
    )
    screenshot(anna, "check-done")
    anna.goto(live_server.url + "/round")
    done = anna.locator("li.moment").filter(has_text="Insuline aspart")
    assert done.get_attribute("data-status") == "given"
    bram.context.close()
    anna.context.close()
