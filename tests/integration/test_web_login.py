"""Web sessions: login, logout, wrong password, open redirects and cross-site posts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.api.app import create_app
from hub.auth.service import create_user
from hub.store.db import unit_of_work
from hub.web.session import COOKIE

BASE = "http://testserver"


def _client(sessions: sessionmaker[Session]) -> TestClient:
    with unit_of_work(sessions) as s:
        create_user(
            s, username="anna", password="geheim-demo", display_name="Anna (demo)", role="nurse"
        )
    return TestClient(create_app(sessions), base_url=BASE)


def _login(c: TestClient, password: str = "geheim-demo", next_: str = "/") -> object:
    return c.post(
        "/login",
        data={"username": "anna", "password": password, "next": next_},
        headers={"origin": BASE},
        follow_redirects=False,
    )


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(
    sessions: sessionmaker[Session],
) -> None:
    c = _client(sessions)
    assert c.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    r = _login(c)
    assert r.status_code == 303  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "Anna (demo)" in c.get("/").text
    token = c.cookies.get(COOKIE)
    c.post("/logout", headers={"origin": BASE})
    assert c.get("/", follow_redirects=False).status_code == 303
    # the old cookie value no longer works either
    c.cookies.set(COOKIE, token or "")
    assert c.get("/", follow_redirects=False).status_code == 303


def test_wrong_password_says_so_in_dutch_and_english(sessions: sessionmaker[Session]) -> None:
    c = _client(sessions)
    r = _login(c, password="fout")
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert "klopt niet" in r.text  # type: ignore[attr-defined]
    c.cookies.set("lang", "en")
    assert "is not right" in _login(c, password="fout").text  # type: ignore[attr-defined]


def test_no_open_redirect_after_login(sessions: sessionmaker[Session]) -> None:
    c = _client(sessions)
    r = _login(c, next_="//evil.example/phish")
    assert r.headers["location"] == "/"  # type: ignore[attr-defined]


def test_cross_site_post_with_the_session_cookie_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    c = _client(sessions)
    _login(c)
    r = c.post("/logout", headers={"origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    assert "Anna (demo)" in c.get("/").text  # still logged in
