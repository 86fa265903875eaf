"""Correcting a wrong registration in a real browser: a new record, the old one marked."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.test_round_e2e import login
from tests.integration.test_web_round import seed_world


def test_nurse_corrects_a_registration_from_the_client_history(
    live_server: LiveServer, browser: Any
) -> None:
    w = seed_world(live_server.sessions)
    anna = login(browser, live_server.url, w.anna)
    anna.goto(live_server.url + "/round")
    card = anna.locator("li.moment").filter(has_text="Metoprolol 50mg")
    card.get_by_role("button", name="Gegeven").click()
    expect(anna.locator("li.moment").filter(has_text="Metoprolol 50mg")).to_have_attribute(
        "data-status", "given"
    )
    # The wrong tap: it was the other client's tablet. Correct it from the history.
    anna.goto(f"{live_server.url}/clients/{w.client_id}#history")
    history = anna.locator("#history")
    row = history.locator("tr").filter(has_text="Metoprolol 50mg")
    expect(row).to_have_attribute("data-status", "given")
    row.get_by_role("link", name="Corrigeren").click()
    anna.wait_for_url(f"{live_server.url}/clients/{w.client_id}/correct/*")
    assert "Metoprolol 50mg" in anna.locator("#original").inner_text()
    anna.get_by_label("Foutief geregistreerd: er is niets gegeven").check()
    anna.get_by_label("Toelichting").fill("verkeerde cliënt aangetikt")
    screenshot(anna, "correction-form")
    anna.get_by_role("button", name="Correctie opslaan").click()
    anna.wait_for_url(f"{live_server.url}/clients/{w.client_id}?corrected=1#history")
    assert "Correctie opgeslagen" in anna.locator("#corrected-msg").inner_text()
    rows = anna.locator("#history tr").filter(has_text="Metoprolol 50mg")
    expect(rows).to_have_count(2)
    corrected = anna.locator("#history tr.corrected")
    expect(corrected).to_have_count(1)
    assert "gecorrigeerd" in corrected.inner_text()
    assert corrected.get_by_role("link", name="Corrigeren").count() == 0
    correction = anna.locator('#history tr[data-status="entered_in_error"]')
    assert "correctie" in correction.inner_text()
    assert "verkeerde cliënt aangetikt" in correction.inner_text()
    screenshot(anna, "correction-history")
    anna.context.close()
