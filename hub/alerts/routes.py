"""HTTP API of alerts: list/filter, acknowledge, resolve, snooze, and an SSE change stream.

The application supplies the database session and the acting user by overriding the
`get_session` and `get_actor` dependencies below (app.dependency_overrides). The session
dependency is the unit of work: it commits after the handler returns; handlers never
commit, and changes reach the stream only after that commit.
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

from hub.alerts import service as svc
from hub.alerts.broadcast import broadcaster
from hub.alerts.schemas import AlertOut, ResolveIn, SnoozeIn, Status, TransitionOut

KEEPALIVE_S = 15.0


def get_session() -> Iterator[Session]:
    """The request's unit-of-work session; the application must override this."""
    raise NotImplementedError("override hub.alerts.routes.get_session")
    yield  # pragma: no cover - makes this a generator dependency like the override


def get_actor(request: Request) -> str:
    """Who is acting ("user:<id>"); the application must override this with its auth."""
    raise HTTPException(status_code=401, detail="not authenticated")


SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def _not_found(exc: svc.AlertNotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=f"alert {exc.args[0]} not found")


@router.get("", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    _actor: ActorDep,
    status: Annotated[Status | None, Query()] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertOut]:
    """Alerts, newest first, filtered by status, client, team, rule or severity."""
    rows = svc.list_alerts(
        session,
        status=status,
        client_id=client_id,
        team_id=team_id,
        rule=rule,
        severity=severity,
        limit=limit,
        offset=offset,
    )
    return [AlertOut.model_validate(a) for a in rows]


@router.get("/stream")
async def stream(
    request: Request,
    _actor: ActorDep,
    team_id: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: one `alert` event per committed change (raise, ack, ...)."""

    async def events() -> AsyncIterator[str]:
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
                data = json.dumps(msg, separators=(",", ":"))
                yield f"event: alert\nid: {alert['id']}-{alert['updated_at']}\ndata: {data}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: int, session: SessionDep, _actor: ActorDep) -> AlertOut:
    """One alert."""
    try:
        return AlertOut.model_validate(svc.get_alert(session, alert_id=alert_id))
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None


@router.get("/{alert_id}/transitions", response_model=list[TransitionOut])
def history(alert_id: int, session: SessionDep, _actor: ActorDep) -> list[TransitionOut]:
    """Who did what to an alert, when."""
    try:
        svc.get_alert(session, alert_id=alert_id)
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    return [TransitionOut.model_validate(t) for t in svc.transitions(session, alert_id=alert_id)]


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: int, session: SessionDep, actor: ActorDep) -> AlertOut:
    """Take the alert: escalation stops."""
    try:
        alert = svc.acknowledge(session, alert_id=alert_id, actor=actor)
    except svc.AlertNotFound as exc:
        raise _not_found(exc) from None
    except svc.AlertError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return AlertOut.model_validate(alert)


@router.post("/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: int, body: ResolveIn, session: SessionDep, actor: ActorDep) -> AlertOut:
    """Close the alert with its outcome (real incident / false alarm / no action needed)."""
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
def snooze(alert_id: int, body: SnoozeIn, session: SessionDep, actor: ActorDep) -> AlertOut:
    """Quiet the alert until a time or for some minutes."""
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
