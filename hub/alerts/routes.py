"""HTTP API of alerts: list/filter, acknowledge, resolve, snooze, and an SSE change stream.

The application supplies the database session, the acting user and her scope by
overriding the `get_session`, `get_actor` and `get_scope` dependencies below
(app.dependency_overrides; the hub uses hub.alerts.scope.user_scope). The session
dependency is the unit of work: it commits after the handler returns; handlers never
commit, and changes reach the stream only after that commit.

Scope: a user sees only the alerts of the clients of her teams, and members of a night
team, during the night hours, the alerts routed to their night team; any other alert is
answered 404, left out of the list and not sent on the stream. Reads are access-logged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from hub import audit
from hub.alerts import service as svc
from hub.alerts.broadcast import broadcaster
from hub.alerts.models import Alert
from hub.alerts.schemas import AlertOut, ResolveIn, SnoozeIn, Status, TransitionOut
from hub.alerts.scope import AlertScope
from hub.auth.deps import request_source

KEEPALIVE_S = 15.0


def get_session() -> Iterator[Session]:
    """The request's unit-of-work session; the application must override this."""
    raise NotImplementedError("override hub.alerts.routes.get_session")
    yield  # pragma: no cover - makes this a generator dependency like the override


def get_actor(request: Request) -> str:
    """Who is acting ("user:<id>"); the application must override this with its auth."""
    raise HTTPException(status_code=401, detail="not authenticated")


def get_scope(request: Request) -> AlertScope:
    """Which alerts the user may see; the application must override this (user_scope)."""
    raise HTTPException(status_code=401, detail="not authenticated")


SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]
ScopeDep = Annotated[AlertScope, Depends(get_scope)]
SourceDep = Annotated[str, Depends(request_source)]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def _not_found(exc: svc.AlertNotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=f"alert {exc.args[0]} not found")


def _visible(session: Session, scope: AlertScope, alert_id: int) -> Alert:
    """The alert if the user may see it; 404 alike for missing and out-of-scope ones."""
    try:
        alert = svc.get_alert(session, alert_id=alert_id)
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    if not scope.allows(alert):
        raise _not_found(svc.AlertNotFound(alert_id))
    return alert


def _log_view(
    session: Session, *, actor: str, source: str, action: str, object_id: str, rows: list[Alert]
) -> None:
    clients = sorted({a.client_id for a in rows})
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="alert",
        object_id=object_id,
        source=source,
        client_id=clients[0] if len(clients) == 1 else None,
        detail={"clients": clients, "count": len(rows)},
    )


@router.get("", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    actor: ActorDep,
    scope: ScopeDep,
    source: SourceDep,
    status: Annotated[Status | None, Query()] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertOut]:
    """Alerts visible to me, newest first, filtered by status, client, team, rule or severity."""
    rows = list(
        svc.list_alerts(
            session,
            status=status,
            client_id=client_id,
            team_id=team_id,
            rule=rule,
            severity=severity,
            limit=limit,
            offset=offset,
            where=scope.where(),
        )
    )
    _log_view(session, actor=actor, source=source, action="alerts.view", object_id="*", rows=rows)
    return [AlertOut.model_validate(a) for a in rows]


@router.get("/stream")
async def stream(
    request: Request,
    scope: ScopeDep,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: one `alert` event per committed change (raise, ack, ...).

    Only changes of alerts the user may see are sent (checked per change against her
    scope, which is reloaded every minute so team changes reach open dashboards). The
    scope dependency authenticates (401 without a user) in a short session of its own,
    so an open stream holds no database connection.
    """
    visible = scope

    async def events() -> AsyncIterator[str]:
        nonlocal visible
        async with broadcaster.subscribe() as queue:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"  # comments keep proxies from closing the stream
                    continue
                if msg is None:
                    return  # fell behind: the client reconnects and lists again
                alert = msg["alert"]
                if team_id is not None and alert.get("team_id") != team_id:
                    continue
                if visible.stale() and visible.reload is not None:
                    visible = await asyncio.to_thread(visible.reload)
                if not visible.allows(alert):
                    continue
                data = json.dumps(msg, separators=(",", ":"))
                yield f"event: alert\nid: {alert['id']}-{alert['updated_at']}\ndata: {data}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(
    alert_id: int, session: SessionDep, actor: ActorDep, scope: ScopeDep, source: SourceDep
) -> AlertOut:
    """One alert."""
    alert = _visible(session, scope, alert_id)
    _log_view(
        session,
        actor=actor,
        source=source,
        action="alert.view",
        object_id=str(alert_id),
        rows=[alert],
    )
    return AlertOut.model_validate(alert)


@router.get("/{alert_id}/transitions", response_model=list[TransitionOut])
def history(
    alert_id: int, session: SessionDep, actor: ActorDep, scope: ScopeDep, source: SourceDep
) -> list[TransitionOut]:
    """Who did what to an alert, when."""
    alert = _visible(session, scope, alert_id)
    _log_view(
        session,
        actor=actor,
        source=source,
        action="alert.history.view",
        object_id=str(alert_id),
        rows=[alert],
    )
    return [TransitionOut.model_validate(t) for t in svc.transitions(session, alert_id=alert_id)]


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: int, session: SessionDep, actor: ActorDep, scope: ScopeDep) -> AlertOut:
    """Take the alert: escalation stops."""
    _visible(session, scope, alert_id)
    try:
        alert = svc.acknowledge(session, alert_id=alert_id, actor=actor)
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    except svc.AlertError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return AlertOut.model_validate(alert)


@router.post("/{alert_id}/resolve", response_model=AlertOut)
def resolve(
    alert_id: int, body: ResolveIn, session: SessionDep, actor: ActorDep, scope: ScopeDep
) -> AlertOut:
    """Close the alert with its outcome (real incident / false alarm / no action needed)."""
    _visible(session, scope, alert_id)
    try:
        alert = svc.resolve(
            session, alert_id=alert_id, actor=actor, outcome=body.outcome, note=body.note
        )
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    except svc.AlertError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return AlertOut.model_validate(alert)


@router.post("/{alert_id}/snooze", response_model=AlertOut)
def snooze(
    alert_id: int, body: SnoozeIn, session: SessionDep, actor: ActorDep, scope: ScopeDep
) -> AlertOut:
    """Quiet the alert until a time or for some minutes."""
    _visible(session, scope, alert_id)
    now = datetime.now(UTC)
    if (body.until is None) == (body.minutes is None):
        raise HTTPException(status_code=422, detail="give exactly one of until, minutes")
    until = body.until if body.until is not None else now + timedelta(minutes=body.minutes or 0)
    try:
        alert = svc.snooze(session, alert_id=alert_id, actor=actor, until=until, now=now)
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    except svc.AlertError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return AlertOut.model_validate(alert)
