"""Admin users page over HTTP: edit a user, deactivate and reactivate (audit-logged), and a
deactivated user's login, web session and API tokens all stop at once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.api.app import create_app
from hub.auth.models import ApiToken, TeamMember, User
from hub.auth.service import issue_token
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry
from tests.integration.test_web_alerts_admin import BASE, PW, _client, _post, _world


def _user(sessions: sessionmaker[Session], username: str) -> User:
    with sessions() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(user)
        return user


def _teams(sessions: sessionmaker[Session], user_id: str) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def _audit(sessions: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _login(sessions: sessionmaker[Session], username: str) -> int:
    r = TestClient(create_app(sessions), base_url=BASE).post(
        "/login",
        data={"username": username, "password": PW},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    return r.status_code


def test_admin_edits_name_role_teams_and_level(sessions: sessionmaker[Session]) -> None:
    _world(sessions, "beheer", "nurse-noord")
    nurse = _user(sessions, "nurse-noord")
    c = _client(sessions, "beheer")
    page = c.get(f"/admin/users/{nurse.id}")
    assert page.status_code == 200
    assert 'value="nurse-noord"' in page.text  # the form starts from what is stored
    form = {
        "display_name": "  Noor de Vries ",
        "role": "team_lead",
        "team_id": ["zuid", "noord"],
        "qualification_level": "2",
    }
    r = _post(c, f"/admin/users/{nurse.id}", form)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/users?saved=nurse-noord"
    edited = _user(sessions, "nurse-noord")
    assert (edited.display_name, edited.role, edited.qualification_level) == (
        "Noor de Vries",
        "team_lead",
        2,
    )
    assert _teams(sessions, nurse.id) == {"noord", "zuid"}
    (entry,) = _audit(sessions, "user.update")
    assert (entry.object_id, entry.actor) == (nurse.id, _user(sessions, "beheer").id)
    assert entry.detail["from"] == {
        "display_name": "nurse-noord",
        "role": "nurse",
        "teams": ["noord"],
        "qualification_level": 0,
    }
    assert entry.detail["to"]["teams"] == ["noord", "zuid"]
    # Leaving a team; the listing shows the result.
    assert _post(c, f"/admin/users/{nurse.id}", {**form, "team_id": ["zuid"]}).status_code == 303
    assert _teams(sessions, nurse.id) == {"zuid"}
    assert "Noor de Vries" in c.get("/admin/users").text


def test_edit_refusals_change_nothing(sessions: sessionmaker[Session]) -> None:
    _world(sessions, "beheer", "nurse-noord")
    nurse = _user(sessions, "nurse-noord")
    admin = _user(sessions, "beheer")
    c = _client(sessions, "beheer")
    base = {"display_name": "X", "role": "nurse", "qualification_level": "1"}
    assert _post(c, f"/admin/users/{nurse.id}", {**base, "role": "keizer"}).status_code == 422
    assert _post(c, f"/admin/users/{nurse.id}", {**base, "team_id": ["oost"]}).status_code == 422
    pharmacist = {**base, "role": "pharmacist"}
    refused = _post(c, f"/admin/users/{nurse.id}", pharmacist)
    assert refused.status_code == 422
    assert 'value="X"' in refused.text  # the typed form comes back
    assert (
        _post(c, f"/admin/users/{nurse.id}", {**base, "qualification_level": "3"}).status_code
        == 422
    )
    assert _post(c, "/admin/users/nobody", base).status_code == 404
    # An admin cannot take away her own admin role (she would lock herself out).
    assert _post(c, f"/admin/users/{admin.id}", base).status_code == 422
    assert _user(sessions, "beheer").role == "admin"
    assert _user(sessions, "nurse-noord").display_name == "nurse-noord"
    assert _audit(sessions, "user.update") == []
    # Others see no such page at all.
    other = _client(sessions, "nurse-noord")
    assert other.get(f"/admin/users/{nurse.id}").status_code == 404
    assert _post(other, f"/admin/users/{nurse.id}", base).status_code == 404


def test_deactivated_user_cannot_log_in_and_her_tokens_stop(
    sessions: sessionmaker[Session],
) -> None:
    _world(sessions, "beheer", "nurse-noord")
    nurse = _user(sessions, "nurse-noord")
    with unit_of_work(sessions) as s:
        token = issue_token(s, user_id=nurse.id, name="integration")
    api = TestClient(create_app(sessions), base_url=BASE)
    bearer = {"authorization": f"Bearer {token}"}
    assert api.get("/api/v1/alerts", headers=bearer).status_code == 200
    web = _client(sessions, "nurse-noord")  # a web session open on her tablet
    assert web.get("/alerts").status_code == 200

    admin = _client(sessions, "beheer")
    r = _post(admin, f"/admin/users/{nurse.id}/active", {"active": "0"})
    assert r.status_code == 303
    assert not _user(sessions, "nurse-noord").active
    assert api.get("/api/v1/alerts", headers=bearer).status_code == 401
    assert web.get("/alerts", follow_redirects=False).status_code == 303  # to the login page
    assert _login(sessions, "nurse-noord") != 303
    with sessions() as s:
        open_tokens = s.scalars(
            select(ApiToken).where(ApiToken.user_id == nurse.id, ApiToken.revoked_at.is_(None))
        )
        assert list(open_tokens) == []
    (entry,) = _audit(sessions, "user.deactivate")
    assert entry.object_id == nurse.id
    assert entry.detail["tokens_revoked"] == 2  # the API token and the web session
    assert "gedeactiveerd" in admin.get("/admin/users").text

    # Reactivated: she logs in again; the revoked tokens stay revoked.
    assert _post(admin, f"/admin/users/{nurse.id}/active", {"active": "1"}).status_code == 303
    assert _user(sessions, "nurse-noord").active
    assert _login(sessions, "nurse-noord") == 303
    assert api.get("/api/v1/alerts", headers=bearer).status_code == 401
    assert len(_audit(sessions, "user.reactivate")) == 1


def test_admin_cannot_deactivate_herself(sessions: sessionmaker[Session]) -> None:
    _world(sessions, "beheer")
    admin = _user(sessions, "beheer")
    c = _client(sessions, "beheer")
    r = _post(c, f"/admin/users/{admin.id}/active", {"active": "0"})
    assert r.status_code == 409
    assert _user(sessions, "beheer").active
    assert c.get("/admin/users").status_code == 200  # still signed in
    assert _audit(sessions, "user.deactivate") == []
    assert _post(c, "/admin/users/nobody/active", {"active": "0"}).status_code == 404
