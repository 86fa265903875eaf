"""Issue 7, test 4: a pharmacy user uploads a Nictiz bundle in the browser and sees the
report; a broken CSV shows its row/column errors and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from etrs.models import ListVersion
from hub.auth.service import create_pharmacy, create_user, link_pharmacy_client
from hub.store.db import unit_of_work
from hub.store.models import Client
from tests.e2e.conftest import LiveServer, screenshot

MP9 = Path(__file__).resolve().parents[3] / "shared" / "data" / "mp9"
TA1 = MP9 / "mgsets-mp-smg-kwal-TA-script1-v30.xml"
NICTIZ_BSN = "999901059"  # the (fictitious) patient of the Nictiz TA script 1 bundle
pytestmark = pytest.mark.skipif(not TA1.exists(), reason=f"Nictiz examples not found at {MP9}")


def _login(page: Any, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill("demo-wachtwoord")
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url + "/")


def _versions(server: LiveServer) -> int:
    with server.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ListVersion)) or 0)


def test_pharmacist_uploads_a_nictiz_bundle_and_a_broken_csv(
    live_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    with unit_of_work(live_server.sessions) as s:
        create_pharmacy(s, pharmacy_id="apo-e2e", name="Apotheek De Linde (fictief)")
        s.add(
            Client(
                id="c-nictiz",
                display_name="Cliënt Nictiz (fictief)",
                bsn=NICTIZ_BSN,
                created_at=datetime.now(UTC),
            )
        )
        s.flush()
        link_pharmacy_client(s, pharmacy_id="apo-e2e", client_id="c-nictiz")
        create_user(
            s,
            username="apotheker",
            password="demo-wachtwoord",
            display_name="Piet (apotheker, demo)",
            role="pharmacist",
            pharmacy_id="apo-e2e",
        )
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    _login(page, live_server.url, "apotheker")
    page.get_by_role("navigation").get_by_role("link", name="Toedienlijst uploaden").click()
    expect(page.get_by_role("heading", name="Toedienlijst uploaden")).to_be_visible()

    # A broken CSV (cp1252, as Excel saves it): refused with row and column of each error.
    broken = tmp_path / "lijst-kapot.csv"
    broken.write_bytes("bsn;geneesmiddel;startdatum\r\n12345678;X;31-02-2026\r\n".encode("cp1252"))
    page.get_by_label("Toedienlijst (FHIR XML/JSON of CSV)").set_input_files(broken)
    page.get_by_role("button", name="Controleren en opslaan").click()
    report = page.locator("#report")
    expect(report).to_contain_text("geweigerd, niets opgeslagen")
    expect(report).to_contain_text("rij 2, kolom 'bsn'")
    expect(report).to_contain_text("rij 2, kolom 'startdatum'")
    expect(report).to_have_attribute("role", "alert")
    screenshot(page, "pharmacy-upload-broken-csv")
    assert _versions(live_server) == 0

    # The Nictiz MP9 bundle: accepted, one new list version for the client's BSN.
    page.get_by_label("Toedienlijst (FHIR XML/JSON of CSV)").set_input_files(TA1)
    page.get_by_role("button", name="Controleren en opslaan").click()
    expect(report).to_contain_text("geaccepteerd")
    expect(report).to_contain_text("1 nieuwe lijstversie(s), 0 ongewijzigd, 2 regels.")
    expect(report).to_contain_text("nieuw: 1 gestopt: 1")
    # One list version, for the bundle's patient (the BSN shown masked: 999…59).
    expect(report.get_by_role("row")).to_have_count(2)
    expect(report.get_by_role("cell", name=f"{NICTIZ_BSN[:3]}…{NICTIZ_BSN[-2:]}")).to_be_visible()
    assert NICTIZ_BSN not in page.content()
    screenshot(page, "pharmacy-upload-nictiz")
    assert _versions(live_server) == 1

    # The same bundle again: accepted, nothing new.
    page.get_by_label("Toedienlijst (FHIR XML/JSON of CSV)").set_input_files(TA1)
    page.get_by_role("button", name="Controleren en opslaan").click()
    expect(report).to_contain_text("0 nieuwe lijstversie(s), 1 ongewijzigd")
    assert _versions(live_server) == 1

    # On a phone the report stays readable.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    ppage = phone.new_page()
    _login(ppage, live_server.url, "apotheker")
    ppage.goto(live_server.url + "/pharmacy/upload")
    ppage.get_by_label("Toedienlijst (FHIR XML/JSON of CSV)").set_input_files(broken)
    ppage.get_by_role("button", name="Controleren en opslaan").click()
    expect(ppage.locator("#report")).to_contain_text("rij 2, kolom 'bsn'")
    screenshot(ppage, "pharmacy-upload-broken-csv-phone")
    phone.close()
    ctx.close()
