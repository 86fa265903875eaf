"""The alert board: live over Server-Sent Events, acknowledge / resolve / snooze, night view.

The board lists the unresolved alerts of the user's teams (and of clients the user may
see, so the night team sees alerts re-routed to it). Its page-specific stream carries
only alert ids and actions, no client data; the browser fetches the card of a changed
alert (`/alerts/card/{id}`), and that read is access-logged like the page itself.
Forms work without JavaScript (POST, redirect back); with it they are sent by fetch and
the card is replaced in place.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import audit
from hub.alerts import service as svc
from hub.alerts.broadcast import broadcaster
from hub.alerts.models import Alert
from hub.alerts.scope import AlertScope, alert_routing
from hub.alerts.scope import scope_of as alert_scope_of
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import AuthError
from hub.store.models import Client, Home
from hub.web import session as web_session
from hub.web.i18n import lang_of, translator
from hub.web.round import FORMATS
from hub.web.routes import TEMPLATES, OptionalUser, render

router = APIRouter(prefix="/alerts", include_in_schema=False)

BOARD_ROLES = frozenset({"nurse", "team_lead", "admin"})
KEEPALIVE_S = 15.0
BOARD_LIMIT = 200
SNOOZE_CHOICES = (15, 30, 60)
OUTCOMES = ("real_incident", "false_alarm", "no_action_needed")
View = Literal["day", "night"]


def board_user(request: Request, user: OptionalUser) -> User:
    """Carers (and administrators); anonymous visitors log in first, others get a 404."""
    if user is None:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if user.role not in BOARD_ROLES:
        raise HTTPException(404)
    return user


BoardUser = Annotated[User, Depends(board_user)]


def _scope(request: Request, session: Session, user: User) -> AlertScope:
    """The same scope as the alerts API: my teams' clients, and at night my night team's."""
    return alert_scope_of(session, user, routing=alert_routing(request))


@dataclass(frozen=True, slots=True)
class Card:
    """One alert as the board shows it."""

    alert: Alert
    client_name: str
    home_name: str | None


def _cards(session: Session, alerts: Iterable[Alert]) -> list[Card]:
    alerts = list(alerts)
    client_ids = {a.client_id for a in alerts}
    home_ids = {a.home_id for a in alerts if a.home_id}
    names = dict(
        session.execute(
            select(Client.id, Client.display_name).where(Client.id.in_(client_ids))
        ).all()
    )
    homes = dict(session.execute(select(Home.id, Home.name).where(Home.id.in_(home_ids))).all())
    return [
        Card(a, names.get(a.client_id, a.client_id), homes.get(a.home_id or "")) for a in alerts
    ]


def _log_views(
    session: Session, request: Request, user: User, alerts: Iterable[Alert], action: str
) -> None:
    """One access-log entry per client whose alerts were shown (NEN 7513: whose data)."""
    per_client: dict[str, list[int]] = {}
    for a in alerts:
        per_client.setdefault(a.client_id, []).append(a.id)
    for client_id, ids in sorted(per_client.items()):
        audit.record(
            session,
            actor=user.id,
            action=action,
            object_type="alert",
            object_id=",".join(str(i) for i in ids)[:128],
            source=request_source(request),
            client_id=client_id,
            detail={"alerts": ids},
        )


def _view(raw: str | None) -> View:
    return "night" if raw == "night" else "day"


def _context(request: Request, view: View) -> dict[str, Any]:
    t = translator(lang_of(request))
    return {
        **FORMATS,
        "view": view,
        "outcomes": [(o, t(f"alerts.outcome.{o}")) for o in OUTCOMES],
        "snoozes": SNOOZE_CHOICES,
        "now": datetime.now(UTC),
        "severity_text": lambda s: t(f"alerts.sev.{s}"),
        "rule_text": lambda r: t(f"alerts.rule.{r}").replace("alerts.rule.", ""),
    }


def _visible_alert(request: Request, session: Session, user: User, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or not _scope(request, session, user).allows(alert):
        raise HTTPException(404)  # same answer for "none" and "not yours"
    return alert


def _card_response(
    request: Request, session: Session, user: User, alert: Alert, view: View, status: int = 200
) -> HTMLResponse:
    _log_views(session, request, user, [alert], "alert.view")
    ctx = {"lang": lang_of(request), "t": translator(lang_of(request)), "user": user}
    return TEMPLATES.TemplateResponse(
        request,
        "alerts/card.html",
        {**ctx, **_context(request, view), "card": _cards(session, [alert])[0]},
        status_code=status,
    )


# --- pages --------------------------------------------------------------------------------


def _unresolved(session: Session, scope: AlertScope) -> list[Alert]:
    q = select(Alert).where(Alert.status != "resolved", scope.where())
    return list(session.scalars(q.order_by(Alert.id.desc()).limit(BOARD_LIMIT)))


@router.get("", response_class=HTMLResponse)
def board(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    view: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    v = _view(view)
    alerts = _unresolved(session, _scope(request, session, user))
    _log_views(session, request, user, alerts, "alerts.view")
    return render(
        request,
        "alerts/board.html",
        user=user,
        active="alerts",
        cards=_cards(session, alerts),
        done=request.query_params.get("done"),
        **_context(request, v),
    )


@router.get("/cards", response_class=HTMLResponse)
def cards(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    view: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """All cards (the board re-reads them after its stream reconnects)."""
    v = _view(view)
    alerts = _unresolved(session, _scope(request, session, user))
    _log_views(session, request, user, alerts, "alerts.view")
    ctx = {"lang": lang_of(request), "t": translator(lang_of(request)), "user": user}
    return TEMPLATES.TemplateResponse(
        request,
        "alerts/cards.html",
        {**ctx, **_context(request, v), "cards": _cards(session, alerts)},
    )


@router.get("/card/{alert_id}", response_class=HTMLResponse)
def card(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    alert_id: int,
    view: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """One alert's card, for the live board."""
    return _card_response(
        request, session, user, _visible_alert(request, session, user, alert_id), _view(view)
    )


# --- the live stream ----------------------------------------------------------------------


def _stream_user(
    request: Request, factory: sessionmaker[Session]
) -> tuple[User, AlertScope] | None:
    """The cookie's user and scope, read in a short session (the stream holds none)."""
    with factory() as session:
        try:
            user = web_session.cookie_authenticator(request, session)
        except AuthError:
            return None
        if user is None or user.role not in BOARD_ROLES or not user.active:
            return None
        scope = _scope(request, session, user)
        session.expunge(user)
        return user, scope


@router.get("/stream")
async def stream(request: Request) -> Response:
    """Server-Sent Events for the board: `alert` events with id, action, status, severity.

    No client data travels here; the scope and the session cookie are checked again at
    every keep-alive, so a logged-out tablet stops receiving.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    first = await asyncio.to_thread(_stream_user, request, factory)
    if first is None:
        return Response(status_code=401)
    scope = first[1]

    async def events() -> AsyncIterator[str]:
        nonlocal scope
        async with broadcaster.subscribe() as queue:
            yield "retry: 2000\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    again = await asyncio.to_thread(_stream_user, request, factory)
                    if again is None:
                        yield "event: ended\ndata: {}\n\n"
                        return
                    scope = again[1]
                    yield ": keep-alive\n\n"
                    continue
                if msg is None:
                    return  # fell behind: the browser reconnects and re-reads the board
                alert = msg["alert"]
                if not scope.allows(alert):
                    continue
                data = {
                    "id": alert["id"],
                    "action": msg["action"],
                    "status": alert["status"],
                    "severity": alert["severity"],
                }
                yield f"event: alert\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- actions ------------------------------------------------------------------------------


def _after(
    request: Request, session: Session, user: User, alert: Alert, view: View, done: str
) -> Response:
    """Answer an action: the new card for fetch, else commit and go back to the board."""
    session.commit()  # the browser (and the stream's subscribers) read it at once
    if request.headers.get("x-requested-with") == "fetch":
        return _card_response(request, session, user, alert, view)
    suffix = "&view=night" if view == "night" else ""
    return RedirectResponse(f"/alerts?done={done}{suffix}", status_code=303)


def _refused(request: Request, exc: Exception) -> HTTPException:
    t = translator(lang_of(request))
    return HTTPException(409, f"{t('alerts.refused')} ({exc})")


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    alert_id: int,
    view: Annotated[str, Form(max_length=8)] = "day",
) -> Response:
    _visible_alert(request, session, user, alert_id)
    try:
        alert = svc.acknowledge(session, alert_id=alert_id, actor=f"user:{user.id}")
    except svc.AlertError as exc:
        raise _refused(request, exc) from None
    return _after(request, session, user, alert, _view(view), "acknowledged")


@router.post("/{alert_id}/resolve")
def resolve(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    alert_id: int,
    outcome: Annotated[Literal["real_incident", "false_alarm", "no_action_needed"], Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    view: Annotated[str, Form(max_length=8)] = "day",
) -> Response:
    _visible_alert(request, session, user, alert_id)
    try:
        alert = svc.resolve(
            session,
            alert_id=alert_id,
            actor=f"user:{user.id}",
            outcome=outcome,
            note=note.strip() or None,
        )
    except svc.AlertError as exc:
        raise _refused(request, exc) from None
    return _after(request, session, user, alert, _view(view), "resolved")


@router.post("/{alert_id}/snooze")
def snooze(
    request: Request,
    session: SessionDep,
    user: BoardUser,
    alert_id: int,
    minutes: Annotated[int, Form(ge=1, le=24 * 60)],
    view: Annotated[str, Form(max_length=8)] = "day",
) -> Response:
    _visible_alert(request, session, user, alert_id)
    now = datetime.now(UTC)
    try:
        alert = svc.snooze(
            session,
            alert_id=alert_id,
            actor=f"user:{user.id}",
            until=now + timedelta(minutes=minutes),
            now=now,
        )
    except svc.AlertError as exc:
        raise _refused(request, exc) from None
    return _after(request, session, user, alert, _view(view), "snoozed")
