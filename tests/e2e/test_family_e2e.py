"""A mantelzorger on her phone: traffic lights and the day's rhythm, and nothing else
(no medication page, no other client: 404)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from hub.alerts.models import Alert
from hub.robots.models import ScheduledMessage
from hub.robots.schedule import local_day
from hub.store.db import unit_of_work
from tests.e2e.conftest import LiveServer, screenshot
from tests.integration.test_web_family_robots import seed_family_world
from tests.integration.test_web_round import PASSWORD

PHONE = {"width": 390, "height": 844}


def family_login(browser: Any, url: str, username: str) -> Any:
    """A phone-sized browser context logged in as a family member (lands on /family)."""
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="nl-NL", device_scale_factor=2
    )
    page = context.new_page()
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(lambda u: u == url + "/family" or "/login?" in u)
    if page.url != url + "/family":
        page.goto(url + "/")  # the session may be committed just after the redirect
    page.wait_for_url(url + "/family")
    return page


def test_family_member_on_a_phone_sees_traffic_lights_and_no_medication_or_other_client(
    live_server: LiveServer, browser: Any
) -> None:
    fw = seed_family_world(live_server.sessions)
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    with unit_of_work(live_server.sessions) as s:
        # A fall alert yesterday (red) and a robot message nobody heard for days (unusual).
        s.add(
            Alert(
                client_id=fw.w.client_id,
                home_id=f"home-{fw.w.tag}",
                rule="fall",
                severity="critical",
                status="resolved",
                detail={},
                first_raised_at=yesterday,
                last_raised_at=yesterday,
                created_at=yesterday,
                updated_at=yesterday,
                outcome="real_incident",
            )
        )
        s.add(
            ScheduledMessage(
                id=f"m-{fw.w.tag}",
                client_id=fw.w.client_id,
                text="Goedemorgen mam!",
                at="00:05",
                recurrence="daily",
                question=False,
                created_by=fw.ids[fw.fleur],
                created_by_role="family",
                created_at=now - timedelta(days=4),
                updated_at=now - timedelta(days=4),
            )
        )
    page = family_login(browser, live_server.url, fw.fleur)
    tile = page.get_by_role("link", name="Mevr. T. Testpersoon")
    expect(tile).to_be_visible()
    assert "Voorbeeld" not in page.content()
    screenshot(page, "family-phone-home")
    tile.click()
    page.wait_for_url(f"{live_server.url}/family/{fw.w.client_id}")
    lights = page.locator("li.day-light")
    expect(lights).to_have_count(14)
    day_before = local_day(yesterday).isoformat()
    expect(page.locator(f'li.day-light[data-day="{day_before}"]')).to_have_attribute(
        "data-light", "alert"
    )
    older = local_day(now - timedelta(days=2)).isoformat()
    expect(page.locator(f'li.day-light[data-day="{older}"]')).to_have_attribute(
        "data-light", "unusual"
    )
    heatmap = page.get_by_role("img", name="Activiteit per uur, afgelopen 14 dagen")
    assert heatmap.locator("rect").count() == 14 * 24
    assert page.get_by_role("img", name="Het ritme van de dag").is_visible()
    # Phone first: nothing wider than the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    html = page.content()
    for secret in ("Metoprolol", "Insuline", "Paracetamol", fw.w.bsn):
        assert secret not in html
    screenshot(page, "family-phone-day")
    page.locator(f'li.day-light[data-day="{day_before}"] a').click()
    expect(page.locator("#day-light")).to_have_attribute("data-light", "alert")
    expect(page.locator("#day")).to_contain_text("mogelijke val")
    screenshot(page, "family-phone-alert-day")
    for path in (
        f"/clients/{fw.w.client_id}",
        f"/family/{fw.w.other_client_id}",
        f"/clients/{fw.w.other_client_id}",
        "/round",
    ):
        response = page.goto(live_server.url + path)
        assert response is not None
        assert response.status == 404, path
        assert "Metoprolol" not in page.content()
    page.context.close()
