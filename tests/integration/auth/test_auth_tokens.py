"""Passwords (argon2), API tokens and the FastAPI current-user dependency."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from etrs_world import PASSWORD, World
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser, get_session
from hub.auth.models import ApiToken, User
from hub.auth.service import (
    AuthError,
    authenticate,
    create_user,
    issue_token,
    revoke_token,
    user_for_token,
)

NOW = datetime(2026, 3, 21, 8, 0, tzinfo=UTC)


def test_create_user_stores_only_an_argon2_hash(world: World) -> None:
    u = create_user(
        world.session,
        username="els",
        password="geheim-en-lang",
        display_name="Els",
        role="nurse",
        qualification_level=2,
        team_ids=(world.team.id,),
    )
    assert u.password_hash.startswith("$argon2id$")
    assert "geheim" not in u.password_hash
    assert authenticate(world.session, username="els", password="geheim-en-lang").id == u.id
    for name, pw in (("els", "wrong"), ("nobody", "geheim-en-lang")):
        with pytest.raises(AuthError):
            authenticate(world.session, username=name, password=pw)
    u.active = False
    with pytest.raises(AuthError):
        authenticate(world.session, username="els", password="geheim-en-lang")
    with pytest.raises(ValueError, match="role"):
        create_user(world.session, username="x", password="y", display_name="X", role="doctor")


def test_tokens_are_stored_hashed_expire_and_revoke(world: World) -> None:
    token = issue_token(world.session, user_id=world.anna.id, ttl=timedelta(hours=8), now=NOW)
    stored = world.session.scalars(
        select(ApiToken.token_hash).where(ApiToken.user_id == world.anna.id)
    ).all()
    assert token not in stored
    assert len(stored) == 1
    assert user_for_token(world.session, token=token, now=NOW).id == world.anna.id
    with pytest.raises(AuthError, match="expired"):
        user_for_token(world.session, token=token, now=NOW + timedelta(hours=8))
    revoke_token(world.session, token=token, now=NOW)
    with pytest.raises(AuthError):
        user_for_token(world.session, token=token, now=NOW)
    with pytest.raises(AuthError):
        user_for_token(world.session, token="chb_not-a-token", now=NOW)


def test_password_check_against_the_shared_test_hash(world: World) -> None:
    assert (
        authenticate(world.session, username=world.anna.username, password=PASSWORD).id
        == world.anna.id
    )


def _app(session: Session) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    def me(user: CurrentUser) -> dict[str, str]:
        return {"id": user.id}

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = _session
    return app


def test_current_user_from_bearer_token_or_401(world: World) -> None:
    token = issue_token(world.session, user_id=world.bram.id)
    client = TestClient(_app(world.session))
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == {
        "id": world.bram.id
    }
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/me", headers={"Authorization": f"Basic {token}"}).status_code == 401


def test_a_cookie_session_authenticator_plugs_in(world: World) -> None:
    app = _app(world.session)

    def cookie_auth(request: Request, session: Session) -> User | None:
        return session.get(User, request.cookies["sid"]) if "sid" in request.cookies else None

    app.state.authenticators = [cookie_auth]
    client = TestClient(app, cookies={"sid": world.cees.id})
    assert client.get("/me").json() == {"id": world.cees.id}
