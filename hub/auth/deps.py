"""FastAPI dependencies: a database session per request and the signed-in user.

`get_session` is the one session dependency; the hub overrides it
(`app.dependency_overrides[get_session] = ...`) or sets `app.state.sessionmaker`.
The current user comes from the first authenticator that recognises the request:
the bearer-token one is built in; a cookie-session authenticator (web UI) is added by
appending to `app.state.authenticators`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.models import User
from hub.auth.service import AuthError, user_for_token
from hub.store.db import unit_of_work

# An authenticator returns the user, None when the request carries no credentials of its
# kind, or raises AuthError when it carries bad ones.
Authenticator = Callable[[Request, Session], User | None]


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit on success, roll back on error."""
    factory: sessionmaker[Session] | None = getattr(request.app.state, "sessionmaker", None)
    if factory is None:
        raise RuntimeError("app.state.sessionmaker is not set and get_session is not overridden")
    with unit_of_work(factory) as session:
        yield session


def bearer_authenticator(request: Request, session: Session) -> User | None:
    """The user of an `Authorization: Bearer <token>` header."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected a bearer token")
    return user_for_token(session, token=token.strip())


def request_source(request: Request) -> str:
    """Where a request came from, for the access log (NEN 7513 'from where')."""
    host = request.client.host if request.client else "unknown"
    return f"http:{host}"


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(request: Request, session: SessionDep) -> User:
    """The authenticated, active user, or 401."""
    authenticators: list[Authenticator] = [bearer_authenticator]
    authenticators += list(getattr(request.app.state, "authenticators", []))
    try:
        for authenticate in authenticators:
            user = authenticate(request, session)
            if user is not None:
                return user
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "authentication required",
        headers={"WWW-Authenticate": "Bearer"},
    )


CurrentUser = Annotated[User, Depends(current_user)]
SourceDep = Annotated[str, Depends(request_source)]
