"""Web sessions: an HttpOnly, SameSite=Strict cookie holding an API token (stored hashed)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.orm import Session

from hub.auth.models import User
from hub.auth.service import issue_token, revoke_token, user_for_token

COOKIE = "carehub_session"
SESSION_TTL = timedelta(hours=12)  # a shift and a half; tablets are shared


def cookie_authenticator(request: Request, session: Session) -> User | None:
    """The user of the session cookie (plugs into hub.auth.deps' authenticators)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return user_for_token(session, token=token)


def start(session: Session, *, user: User) -> str:
    """Start a web session for `user`; returns the cookie value."""
    return issue_token(session, user_id=user.id, name="web session", ttl=SESSION_TTL)


def end(session: Session, *, token: str) -> None:
    """End a web session: the token stops working at once."""
    revoke_token(session, token=token)


def same_origin(request: Request) -> bool:
    """A state-changing request must come from our own pages (CSRF defence with SameSite)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.headers.get("host", "")
