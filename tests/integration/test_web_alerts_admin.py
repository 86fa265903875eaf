"""Alert board and admin pages over HTTP (no browser): scoping, forms without JavaScript,
refusals, audit entries, and the care-plan form's round trip (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import service as alerts
from hub.alerts.models import Alert
from hub.api.app import create_app
from hub.auth.models import User
from hub.auth.service import create_pharmacy, create_user
from hub.devices import service as devices
from hub.rules.careplan import CarePlan, RuleSwitches
from hub.rules.model import AlertDecision, Rule, Severity
from hub.rules.service import get_care_plan
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Client, Team
from hub.web.admin import masked_bsn, plan_fields

BASE = "http://testserver"
PW = "demo-wachtwoord"


USERS: dict[str, dict[str, Any]] = {
    "nurse-noord": {"role": "nurse", "team_ids": ("noord",)},
    "lead-noord": {"role": "team_lead", "team_ids": ("noord",)},
    "lead-zuid": {"role": "team_lead", "team_ids": ("zuid",)},
    "beheer": {"role": "admin"},
    "apo": {"role": "pharmacist", "pharmacy_id": "apo"},
}


def _world(sessions: sessionmaker[Session], *users: str) -> dict[str, int]:
    """Two teams with a client and an open alert each, and the named users (argon2 is slow)."""
    now = datetime.now(UTC)
    ids: dict[str, int] = {}
    with unit_of_work(sessions) as s:
        create_pharmacy(s, pharmacy_id="apo", name="Apotheek")
        for team in ("noord", "zuid"):
            s.add(Team(id=team, name=f"Wijkteam {team}", kind="day", created_at=now))
            s.flush()
            devices.add_home(
                s, home_id=f"h-{team}", name="Thuis", team_id=team, actor="t", source="t"
            )
            s.add(
                Client(
                    id=f"c-{team}",
                    display_name=f"Cliënt {team} (fictief)",
                    home_id=f"h-{team}",
                    team_id=team,
                    created_at=now,
                )
            )
            s.flush()
            change = alerts.raise_alert(
                s,
                decision=AlertDecision(
                    f"h-{team}", f"c-{team}", Rule.FALL, Severity.CRITICAL, now, "bathroom"
                ),
                now=now,
            )
            ids[team] = change.alert_id
        for name in users:
            create_user(s, username=name, password=PW, display_name=name, **USERS[name])
    return ids


def _client(sessions: sessionmaker[Session], username: str) -> TestClient:
    c = TestClient(create_app(sessions), base_url=BASE)
    r = c.post(
        "/login",
        data={"username": username, "password": PW},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def _post(c: TestClient, url: str, data: dict[str, Any], **headers: str) -> Any:
    return c.post(url, data=data, headers={"origin": BASE, **headers}, follow_redirects=False)


def test_board_lists_my_teams_alerts_and_acts_without_javascript(
    sessions: sessionmaker[Session],
) -> None:
    ids = _world(sessions, "nurse-noord")
    c = _client(sessions, "nurse-noord")
    page = c.get("/alerts")
    assert page.status_code == 200
    assert "Cliënt noord (fictief)" in page.text
    assert "Cliënt zuid" not in page.text
    assert 'aria-live="assertive"' in page.text
    assert "Mogelijke val" in page.text
    assert "kritiek" in page.text
    # Another team's alert: 404 for reading and for every action, nothing changes.
    assert c.get(f"/alerts/card/{ids['zuid']}").status_code == 404
    for action, data in (
        ("acknowledge", {}),
        ("resolve", {"outcome": "false_alarm"}),
        ("snooze", {"minutes": "15"}),
    ):
        assert _post(c, f"/alerts/{ids['zuid']}/{action}", data).status_code == 404
    # Plain form posts redirect back to the board (the night view stays the night view).
    r = _post(c, f"/alerts/{ids['noord']}/acknowledge", {"view": "night"})
    assert (r.status_code, r.headers["location"]) == (303, "/alerts?done=acknowledged&view=night")
    assert _post(c, f"/alerts/{ids['noord']}/acknowledge", {}).status_code == 409  # already
    assert _post(c, f"/alerts/{ids['noord']}/resolve", {"outcome": "maybe"}).status_code == 422
    assert _post(c, f"/alerts/{ids['noord']}/snooze", {"minutes": "0"}).status_code == 422
    r = _post(
        c, f"/alerts/{ids['noord']}/snooze", {"minutes": "30"}, **{"x-requested-with": "fetch"}
    )
    assert r.status_code == 200
    assert "gesluimerd tot" in r.text
    r = _post(
        c,
        f"/alerts/{ids['noord']}/resolve",
        {"outcome": "real_incident", "note": "Gevallen, huisarts gebeld"},
        **{"x-requested-with": "fetch"},
    )
    assert r.status_code == 200
    assert 'data-status="resolved"' in r.text
    # A cross-site form post carries the cookie but not our origin: refused.
    assert c.post(f"/alerts/{ids['zuid']}/acknowledge", follow_redirects=False).status_code == 403
    with sessions() as s:
        alert = s.get(Alert, ids["noord"])
        assert alert is not None
        assert (alert.status, alert.outcome) == ("resolved", "real_incident")
        assert alert.resolution_note == "Gevallen, huisarts gebeld"
        other = s.get(Alert, ids["zuid"])
        assert other is not None
        assert other.status == "open"
        logged = set(s.scalars(select(AuditEntry.action).where(AuditEntry.client_id == "c-noord")))
    assert {"alerts.view", "alert.view", "alert.acknowledged", "alert.snoozed"} <= logged
    # The resolved alert has left the board; English works too.
    c.cookies.set("lang", "en")
    board = c.get("/alerts").text
    assert "No open alerts." in board
    assert "Night view" in board


def test_board_is_for_carers_and_administrators(sessions: sessionmaker[Session]) -> None:
    ids = _world(sessions, "apo", "beheer")
    anon = TestClient(create_app(sessions), base_url=BASE)
    assert anon.get("/alerts", follow_redirects=False).status_code == 303
    assert anon.get("/alerts/stream").status_code == 401
    assert _client(sessions, "apo").get("/alerts").status_code == 404
    admin = _client(sessions, "beheer").get("/alerts").text
    assert "Cliënt noord" in admin
    assert "Cliënt zuid" in admin
    assert ids


def test_admin_creates_clients_with_a_valid_bsn_only(sessions: sessionmaker[Session]) -> None:
    _world(sessions, "beheer", "lead-noord", "nurse-noord")
    c = _client(sessions, "beheer")
    form = {"client_id": "c-nieuw", "display_name": "Mevr. Nieuw", "team_id": "noord"}
    r = _post(c, "/admin/clients", {**form, "bsn": "123456789"})
    assert r.status_code == 422
    assert "elfproef" in r.text
    r = _post(c, "/admin/clients", {**form, "bsn": "1112.22.333"})  # separators are fine
    assert r.status_code == 303
    r = _post(c, "/admin/clients", {**form, "client_id": "c-twee", "bsn": "111222333"})
    assert r.status_code == 422
    assert "al een cliënt met dit BSN" in r.text
    assert _post(c, "/admin/clients", {**form, "bsn": ""}).status_code == 422  # id exists
    assert _post(c, "/admin/clients", {**form, "client_id": "X!"}).status_code == 422
    with sessions() as s:
        client = s.get(Client, "c-nieuw")
        assert client is not None
        assert (client.bsn, client.team_id) == ("111222333", "noord")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "client.create")).one()
        assert entry.object_id == "c-nieuw"
        assert "111222333" not in str(entry.detail)  # the audit log needs no BSN
    # Team leads see their clients but create none; nurses see no admin pages at all.
    lead = _client(sessions, "lead-noord")
    listing = lead.get("/admin/clients")
    assert listing.status_code == 200
    assert "c-nieuw" in listing.text
    assert "c-zuid" not in listing.text
    assert _post(lead, "/admin/clients", {**form, "client_id": "c-drie"}).status_code == 404
    assert _client(sessions, "nurse-noord").get("/admin/clients").status_code == 404


def test_admin_creates_users_with_hashed_passwords(sessions: sessionmaker[Session]) -> None:
    _world(sessions, "beheer")
    c = _client(sessions, "beheer")
    form = {"username": "kees", "display_name": "Kees", "role": "nurse", "team_id": ["zuid"]}
    assert _post(c, "/admin/users", {**form, "password": "kort"}).status_code == 422
    assert (
        _post(c, "/admin/users", {**form, "role": "pharmacist", "password": PW}).status_code == 422
    )
    assert _post(c, "/admin/users", {**form, "role": "keizer", "password": PW}).status_code == 422
    assert (
        _post(c, "/admin/users", {**form, "password": "lang-genoeg-wachtwoord"}).status_code == 303
    )
    assert _post(c, "/admin/users", {**form, "password": PW}).status_code == 422  # exists
    with sessions() as s:
        kees = s.scalars(select(User).where(User.username == "kees")).one()
        assert kees.password_hash.startswith("$argon2id$")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.create")).one()
        assert "lang-genoeg-wachtwoord" not in str(entry.detail)
    r = TestClient(create_app(sessions), base_url=BASE).post(
        "/login",
        data={"username": "kees", "password": "lang-genoeg-wachtwoord"},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_care_plan_form_refuses_bad_values_and_tells_the_rule_engine(
    sessions: sessionmaker[Session],
) -> None:
    _world(sessions, "lead-noord", "lead-zuid")
    c = _client(sessions, "lead-noord")
    reloaded: list[str] = []
    c.app.state.care_plan_changed = reloaded.append  # type: ignore[attr-defined]
    url = "/admin/clients/c-noord/care-plan"
    form = _form(CarePlan())
    r = _post(c, url, {**form, "wake_deadline_min": "5"})
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.text
    assert reloaded == []
    r = _post(c, url, {**form, "usual_wake": "25:00"})
    assert r.status_code == 422
    r = _post(c, url, {**form, "usual_wake": "08:15", "rule_night_restless": "on"})
    assert r.status_code == 303
    assert reloaded == ["c-noord"]
    with sessions() as s:
        plan = get_care_plan(s, client_id="c-noord")
        assert plan.usual_wake == "08:15"
        assert plan.rules.night_restless
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "care_plan.set")).one()
        assert entry.actor != "system"
    # Another team's lead learns nothing about this client.
    other = _client(sessions, "lead-zuid")
    assert other.get(url).status_code == 404
    assert _post(other, url, form).status_code == 404


def _form(plan: CarePlan) -> dict[str, Any]:
    """The care-plan form as the browser would post it for `plan`."""
    data: dict[str, Any] = {f.name: str(f.value) for f in plan_fields(plan)}
    for name in RuleSwitches.model_fields:
        if getattr(plan.rules, name):
            data[f"rule_{name}"] = "on"
    rows = list(plan.answer_settings)
    for i, a in enumerate(rows):
        data[f"ans_question_{i}"] = a.question
        data[f"ans_supports_{i}"] = a.supports
        if a.on_no:
            data[f"ans_on_no_{i}"] = "on"
        if a.on_no_answer:
            data[f"ans_on_no_answer_{i}"] = "on"
    data[f"ans_question_{len(rows)}"] = ""  # the empty row for a new setting
    return data


hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
plans = st.builds(
    CarePlan,
    rules=st.builds(RuleSwitches, **{n: st.booleans() for n in RuleSwitches.model_fields}),
    usual_wake=hhmm,
    meal_check=hhmm,
    wake_deadline_min=st.integers(15, 360),
    exit_grace_min=st.floats(0, 30).map(lambda x: round(x * 2) / 2),
    wandering_risk=st.sampled_from(["low", "high"]),
    battery_low_pct=st.integers(1, 90),
    answer_settings=st.lists(
        st.builds(
            dict,
            question=st.text("abcdefg ?é", min_size=1, max_size=30).map(str.strip).filter(bool),
            supports=st.sampled_from(["not_eating", "not_up"]),
            on_no=st.booleans(),
            on_no_answer=st.booleans(),
        ),
        max_size=3,
    ).map(tuple),
)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=plans)
def test_any_care_plan_survives_the_form_round_trip(
    sessions: sessionmaker[Session], plan: CarePlan
) -> None:
    with unit_of_work(sessions) as s:
        if s.get(Team, "t") is None:
            s.add(Team(id="t", name="T", kind="day", created_at=datetime.now(UTC)))
            s.flush()
            s.add(Client(id="c", display_name="C", team_id="t", created_at=datetime.now(UTC)))
            create_user(s, username="beheer", password=PW, display_name="B", role="admin")
    c = _client(sessions, "beheer")
    page = c.get("/admin/clients/c-x/care-plan")
    assert page.status_code == 404
    assert _post(c, "/admin/clients/c/care-plan", _form(plan)).status_code == 303
    with sessions() as s:
        assert get_care_plan(s, client_id="c") == plan


def test_masked_bsn_shows_only_the_last_three_digits() -> None:
    assert masked_bsn("111222333") == "••••••333"
    assert masked_bsn(None) == "—"
