"""Admin in the browser: a team, a client (BSN elfproef), a user (argon2 password) and a
care plan change; every change audit-logged; team leads only reach their own clients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from hub.auth.models import TeamMember, User
from hub.auth.service import create_user
from hub.rules.service import get_care_plan
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Client, Team
from tests.e2e.conftest import LiveServer, screenshot

VALID_BSN = "111222333"  # passes the elfproef; fictitious


def _login(page: Any, url: str, username: str, password: str = "demo-wachtwoord") -> None:
    page.goto(url + "/login")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(password)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url + "/")


def _audit_actions(server: LiveServer) -> list[tuple[str, str]]:
    with server.sessions() as s:
        return [(a, o) for a, o in s.execute(select(AuditEntry.action, AuditEntry.object_id)).all()]


def test_admin_creates_team_client_user_and_changes_a_care_plan(
    live_server: LiveServer, browser: Any
) -> None:
    with unit_of_work(live_server.sessions) as s:
        create_user(
            s, username="beheer", password="demo-wachtwoord", display_name="Beheer", role="admin"
        )
        s.add(Team(id="wijk-west", name="Wijkteam West", kind="day", created_at=datetime.now(UTC)))
        s.flush()
        create_user(
            s,
            username="lead-west",
            password="demo-wachtwoord",
            display_name="Teamleider West",
            role="team_lead",
            team_ids=("wijk-west",),
        )
    url = live_server.url
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL")
    page = ctx.new_page()
    _login(page, url, "beheer")
    page.get_by_role("navigation").get_by_role("link", name="Beheer").click()
    page.get_by_role("link", name="Teams").click()

    # A team.
    page.get_by_label("id").fill("wijk-oost")
    page.get_by_label("Naam", exact=True).fill("Wijkteam Oost")
    page.get_by_label("Soort team").select_option("day")
    page.get_by_role("button", name="Team toevoegen").click()
    expect(page.get_by_role("row").filter(has_text="wijk-oost")).to_contain_text("Wijkteam Oost")

    # A client: a BSN failing the elfproef is refused, with the typed values kept.
    page.goto(url + "/admin/clients")
    page.get_by_label("id").fill("client-oost-1")
    page.get_by_label("Naam", exact=True).fill("Dhr. de Boer (fictief)")
    page.get_by_label("BSN").fill("123456789")
    page.get_by_label("Team", exact=True).select_option("wijk-oost")
    page.get_by_role("button", name="Cliënt toevoegen").click()
    expect(page.get_by_role("alert")).to_have_text("Dit BSN klopt niet (elfproef).")
    expect(page.get_by_label("BSN")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Naam", exact=True)).to_have_value("Dhr. de Boer (fictief)")
    screenshot(page, "admin-clients-bsn-refused")
    page.get_by_label("BSN").fill(VALID_BSN)
    page.get_by_role("button", name="Cliënt toevoegen").click()
    expect(page.get_by_role("status")).to_contain_text("client-oost-1")
    row = page.get_by_role("row").filter(has_text="client-oost-1")
    expect(row).to_contain_text("••••••333")  # the BSN is not shown in full
    assert VALID_BSN not in page.content()
    screenshot(page, "admin-clients")
    with live_server.sessions() as s:
        client = s.get(Client, "client-oost-1")
        assert client is not None
        assert (client.bsn, client.team_id) == (VALID_BSN, "wijk-oost")

    # Move the client to another team and back (assign team).
    row.get_by_label("Team Dhr. de Boer (fictief)", exact=True).select_option("wijk-west")
    row.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("client-oost-1")
    with live_server.sessions() as s:
        moved = s.get(Client, "client-oost-1")
        assert moved is not None
        assert moved.team_id == "wijk-west"

    # A user: too short a password is refused; then created, hashed with argon2id.
    page.goto(url + "/admin/users")
    page.get_by_label("Gebruikersnaam").fill("noor")
    page.get_by_label("Naam", exact=True).fill("Noor (demo)")
    page.get_by_label("Wachtwoord (minstens 12 tekens)").fill("kort")
    page.get_by_label("Rol", exact=True).select_option("nurse")
    page.get_by_label("Team", exact=True).select_option(["wijk-oost", "wijk-west"])
    page.get_by_label("Bevoegdheid dubbele controle").select_option("2")
    page.locator("form.grid-form").evaluate("f => f.noValidate = true")  # the server checks too
    page.get_by_role("button", name="Gebruiker toevoegen").click()
    expect(page.get_by_role("alert")).to_contain_text("minstens 12 tekens")
    page.get_by_label("Wachtwoord (minstens 12 tekens)").fill("een-lang-wachtwoord")
    page.get_by_role("button", name="Gebruiker toevoegen").click()
    expect(page.get_by_role("row").filter(has_text="noor")).to_contain_text("wijk-oost, wijk-west")
    screenshot(page, "admin-users")
    with live_server.sessions() as s:
        noor = s.scalars(select(User).where(User.username == "noor")).one()
        assert noor.password_hash.startswith("$argon2id$")
        assert "een-lang-wachtwoord" not in noor.password_hash
        assert (noor.role, noor.qualification_level) == ("nurse", 2)
        teams = set(s.scalars(select(TeamMember.team_id).where(TeamMember.user_id == noor.id)))
        assert teams == {"wijk-oost", "wijk-west"}

    # The care plan: switch a rule on, change parameters; a value out of range is refused.
    page.goto(url + "/admin/clients")
    page.get_by_role("link", name="Zorgplan Dhr. de Boer (fictief)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dhr. de Boer (fictief)")
    expect(page.get_by_text("Nog geen zorgplan opgeslagen")).to_be_visible()
    page.get_by_label("Onrustige nacht").check()
    page.get_by_label("Niet gegeten").uncheck()
    page.get_by_label("Staat meestal op om").fill("08:15")
    page.get_by_label("Risico op dwalen").select_option("high")
    page.get_by_label("Melden als nog niet op na (minuten)").fill("5")
    page.locator("form.card").evaluate("f => f.noValidate = true")  # the server checks too
    page.get_by_role("button", name="Zorgplan opslaan").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Melden als nog niet op na (minuten)")
    expect(page.get_by_label("Onrustige nacht")).to_be_checked()  # what was typed is kept
    expect(page.get_by_label("Staat meestal op om")).to_have_value("08:15")
    screenshot(page, "admin-careplan-refused")
    page.get_by_label("Melden als nog niet op na (minuten)").fill("60")
    page.get_by_label("Vraag 1").fill("Heeft u al gegeten?")
    page.get_by_label("Telt mee voor").first.select_option("not_eating")
    page.get_by_role("button", name="Zorgplan opslaan").click()
    expect(page.get_by_role("status")).to_have_text("Opgeslagen.")
    expect(page.get_by_label("Onrustige nacht")).to_be_checked()
    expect(page.get_by_label("Vraag 1")).to_have_value("Heeft u al gegeten?")
    screenshot(page, "admin-careplan")
    with live_server.sessions() as s:
        plan = get_care_plan(s, client_id="client-oost-1")
    assert plan.rules.night_restless is True
    assert plan.rules.not_eating is False
    assert (plan.usual_wake, plan.wandering_risk, plan.wake_deadline_min) == ("08:15", "high", 60)
    assert [a.question for a in plan.answer_settings] == ["Heeft u al gegeten?"]

    actions = _audit_actions(live_server)
    for expected in (
        ("team.create", "wijk-oost"),
        ("client.create", "client-oost-1"),
        ("client.team", "client-oost-1"),
        ("user.create", noor.id),
        ("care_plan.set", "client-oost-1"),
        ("care_plan.view", "client-oost-1"),
    ):
        assert expected in actions, expected

    # Phone: the care plan form in one column.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    ppage = phone.new_page()
    _login(ppage, url, "beheer")
    ppage.goto(url + "/admin/clients/client-oost-1/care-plan")
    screenshot(ppage, "admin-careplan-phone")
    ppage.goto(url + "/admin/clients")
    screenshot(ppage, "admin-clients-phone")
    phone.close()

    # The team lead of the client's team (now West) edits its care plan, but creates nothing;
    # the new nurse learns nothing of the admin pages.
    lead = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL").new_page()
    _login(lead, url, "lead-west")
    lead.goto(url + "/admin/clients")
    expect(lead.get_by_role("row").filter(has_text="client-oost-1")).to_be_visible()
    expect(lead.get_by_role("button", name="Cliënt toevoegen")).to_have_count(0)
    assert lead.goto(url + "/admin/users").status == 404
    lead.goto(url + "/admin/clients/client-oost-1/care-plan")
    lead.get_by_label("Batterij bijna leeg onder (%)").fill("30")
    lead.get_by_role("button", name="Zorgplan opslaan").click()
    expect(lead.get_by_role("status")).to_have_text("Opgeslagen.")
    nurse = browser.new_context(locale="nl-NL").new_page()
    _login(nurse, url, "noor", "een-lang-wachtwoord")
    for path in ("/admin/clients", "/admin/clients/client-oost-1/care-plan", "/admin/teams"):
        assert nurse.goto(url + path).status == 404
        assert "de Boer" not in nurse.content()
    # Back to East: the West team lead no longer reaches the client (no data in the page).
    row = page.get_by_role("row").filter(has_text="client-oost-1")
    page.goto(url + "/admin/clients")
    row.get_by_label("Team Dhr. de Boer (fictief)", exact=True).select_option("wijk-oost")
    row.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("client-oost-1")
    assert lead.goto(url + "/admin/clients/client-oost-1/care-plan").status == 404
    assert "de Boer" not in lead.content()
    with live_server.sessions() as s:
        assert get_care_plan(s, client_id="client-oost-1").battery_low_pct == 30
    ctx.close()


def test_admin_edits_and_deactivates_a_user(live_server: LiveServer, browser: Any) -> None:
    with unit_of_work(live_server.sessions) as s:
        s.add(Team(id="wijk-zuid", name="Wijkteam Zuid", kind="day", created_at=datetime.now(UTC)))
        s.flush()
        create_user(
            s, username="beheer", password="demo-wachtwoord", display_name="Beheer", role="admin"
        )
        create_user(
            s, username="sanne", password="demo-wachtwoord", display_name="Sanne", role="nurse"
        )
    url = live_server.url
    nurse = browser.new_context(locale="nl-NL").new_page()
    _login(nurse, url, "sanne")  # her tablet stays signed in
    page = browser.new_context(viewport={"width": 1024, "height": 768}, locale="nl-NL").new_page()
    _login(page, url, "beheer")
    page.goto(url + "/admin/users")
    # No button to deactivate herself.
    row = page.get_by_role("row").filter(has_text="beheer")
    expect(row.get_by_role("button")).to_have_count(0)
    page.get_by_role("link", name="Wijzigen sanne").click()
    page.get_by_label("Naam", exact=True).fill("Sanne de Wit")
    page.get_by_label("Team", exact=True).select_option(["wijk-zuid"])
    page.get_by_label("Bevoegdheid dubbele controle").select_option("1")
    page.get_by_role("button", name="Opslaan").click()
    row = page.get_by_role("row").filter(has_text="sanne")
    expect(row).to_contain_text("Sanne de Wit")
    expect(row).to_contain_text("wijk-zuid")
    row.get_by_role("button", name="Deactiveren sanne").click()
    expect(page.get_by_role("row").filter(has_text="sanne")).to_contain_text("gedeactiveerd")
    nurse.goto(url + "/round")
    assert nurse.url.startswith(url + "/login")  # her session ended at once
    assert [a for a, _ in _audit_actions(live_server) if a.startswith("user.")] == [
        "user.update",
        "user.deactivate",
    ]
