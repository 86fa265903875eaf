"""FastAPI dependencies: a database session per request and the signed-in user.

`get_session` is the one session dependency; the hub overrides it
(`app.dependency_overrides[get_session] = ...`) or sets `app.state.sessionmaker`.
The current user comes from the first authenticator that recognises the request:
the bearer-token one is built in; a cookie-session authenticator (web UI) is added by
appending to `app.state.authenticators`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool

from hub.auth.models import User
from hub.auth.service import AuthError, user_for_token

# An authenticator returns the user, None when the request carries no credentials of its
# kind, or raises AuthError when it carries bad ones.
Authenticator = Callable[[Request, Session], User | None]


def _pool_capacity(factory: sessionmaker[Session]) -> int | None:
    """Connections the factory's engine pool can hand out at once (None: no fixed bound)."""
    pool = getattr(factory.kw.get("bind"), "pool", None)
    if not isinstance(pool, QueuePool):
        return None
    overflow = int(getattr(pool, "_max_overflow", 0))
    return None if overflow < 0 else pool.size() + overflow


def _session_gate(request: Request, factory: sessionmaker[Session]) -> anyio.Semaphore | None:
    state = request.app.state
    if getattr(state, "session_gate_for", None) is not factory:
        capacity = _pool_capacity(factory)
        state.session_gate = anyio.Semaphore(capacity) if capacity else None
        state.session_gate_for = factory
    gate: anyio.Semaphore | None = state.session_gate
    return gate


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: commit on success, roll back on error.

    At most as many requests hold a session as the pool has connections. Without this
    gate, a request holds its connection while it waits for a worker thread for its next
    (sync) dependency or endpoint; under load every thread ends up waiting for a
    connection that requests without a thread hold, and the server stalls until the pool
    timeout (bench/signoff.py, 200 nurses: p99 of 30 s). The wait happens here, on the
    event loop, where it costs no thread; commit, rollback and any close that returns a
    connection run in a worker thread.
    """
    factory: sessionmaker[Session] | None = getattr(request.app.state, "sessionmaker", None)
    if factory is None:
        raise RuntimeError("app.state.sessionmaker is not set and get_session is not overridden")
    gate = _session_gate(request, factory)
    if gate is not None:
        await gate.acquire()
    try:
        session = factory()
        try:
            yield session
            # Endpoints that commit themselves (etrs.routes) leave no transaction open and
            # no changes: nothing to commit, and no trip through the thread pool for it.
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                await run_in_threadpool(session.commit)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.rollback)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                if session.in_transaction():
                    await run_in_threadpool(session.close)  # returns the connection: I/O
                else:
                    session.close()  # holds no connection: forgets its objects, no I/O
    finally:
        if gate is not None:
            gate.release()


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


async def _request_source(request: Request) -> str:
    # A coroutine, so FastAPI runs it on the event loop instead of the thread pool.
    return request_source(request)


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
SourceDep = Annotated[str, Depends(_request_source)]
