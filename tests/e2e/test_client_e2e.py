"""The client page in a real browser: other teams see nothing; list changes; the rhythm."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.test_round_e2e import login
from tests.integration.test_web_round import seed_world, store_new_version


def test_nurse_of_another_team_cannot_open_the_client(
    live_server: LiveServer, browser: Any
) -> None:
    w = seed_world(live_server.sessions)
    dirk = login(browser, live_server.url, w.dirk)
    response = dirk.goto(f"{live_server.url}/clients/{w.client_id}")
    assert response.status == 404
    html = dirk.content()
    for secret in ("Testpersoon", "Metoprolol", "Insuline", w.bsn):
        assert secret not in html
    dirk.goto(live_server.url + "/round")
    assert "Testpersoon" not in dirk.content()
    dirk.context.close()


def test_client_page_shows_rhythm_and_changes_can_be_acknowledged(
    live_server: LiveServer, browser: Any
) -> None:
    w = seed_world(live_server.sessions)
    store_new_version(live_server.sessions, w)
    anna = login(browser, live_server.url, w.anna)
    anna.goto(live_server.url + "/round")
    card = anna.locator("li.moment").filter(has_text="Metoprolol 50mg")
    assert "De toedienlijst is gewijzigd" in card.inner_text()
    card.get_by_role("button", name="Gegeven").click()
    error = anna.locator("li.moment").filter(has_text="Metoprolol 50mg").get_by_role("alert")
    assert "bevestig eerst de lijstwijzigingen" in error.inner_text()
    screenshot(anna, "round-refused")
    anna.locator("li.moment").filter(has_text="Metoprolol 50mg").get_by_role(
        "link", name="Mevr. T. Testpersoon"
    ).click()
    anna.wait_for_url(f"{live_server.url}/clients/{w.client_id}")
    changed = anna.locator("li.diff-changed")
    assert "Metoprolol 50mg" in changed.inner_text()
    assert changed.locator("del").first.inner_text() == "1 stuk"
    assert changed.locator("ins").first.inner_text() == "2 stuk"
    heatmap = anna.get_by_role("img", name="Activiteit per uur, afgelopen 14 dagen")
    assert heatmap.locator("rect").count() == 14 * 24
    assert anna.get_by_role("img", name="Vandaag: kamers, deuren en medicatie").is_visible()
    screenshot(anna, "client-page")
    anna.get_by_role("button", name="Wijzigingen gezien").click()
    anna.wait_for_url(f"{live_server.url}/clients/{w.client_id}?acknowledged=1")
    assert anna.locator("li.diff-changed").count() == 0
    anna.goto(live_server.url + "/round")
    anna.locator("li.moment").filter(has_text="Metoprolol 50mg").get_by_role(
        "button", name="Gegeven"
    ).click()
    card = anna.locator("li.moment").filter(has_text="Metoprolol 50mg")
    expect(card).to_have_attribute("data-status", "given")
    assert "2 stuk" in card.inner_text()
    anna.context.close()
