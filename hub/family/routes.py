"""REST API for family (mantelzorgers) and for the team that links them to a client.

Family endpoints answer 404 for every client a family member is not linked to, or whose
view the client did not allow, exactly as for a client that does not exist.
Alerts come from hub.alerts (`app.state.family_alert_source` may replace the source);
answer settings from `app.state.family_answer_settings`, else the defaults.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from hub import audit
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.auth.service import NotFoundError
from hub.family import service
from hub.family.alerts import alerts_of_day
from hub.family.schemas import DayOverviewOut, LinkIn, LinkOut, NotificationOut
from hub.robots.schedule import local_day

router = APIRouter(prefix="/api/v1", tags=["family"])


def get_now() -> datetime:
    """The current time (overridden in tests)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(get_now)]


def _not_found(exc: NotFoundError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


@router.get("/family/clients", response_model=list[LinkOut])
def my_clients(
    user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep
) -> list[LinkOut]:
    """The clients this family member is linked to, with what each allowed."""
    links = service.my_links(session, user=user)
    audit.record(
        session,
        actor=user.id,
        action="family.clients.view",
        object_type="family_links",
        object_id=user.id,
        source=source,
        detail={"clients": [link.client_id for link in links]},
        at=now,
    )
    return links


@router.get("/family/clients/{client_id}/overview", response_model=DayOverviewOut)
def overview(
    client_id: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    day: Annotated[date | None, Query(description="Amsterdam date; today by default")] = None,
) -> DayOverviewOut:
    """The day's traffic light, rhythm (activity per hour) and, if allowed, robot messages."""
    state = request.app.state
    try:
        return service.day_overview(
            session,
            user=user,
            client_id=client_id,
            day=day or local_day(now),
            now=now,
            source=source,
            alerts=getattr(state, "family_alert_source", alerts_of_day),
            settings=getattr(state, "family_answer_settings", service.default_settings),
        )
    except NotFoundError as exc:
        raise _not_found(exc) from exc


@router.get("/family/notifications", response_model=list[NotificationOut])
def notifications(
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationOut]:
    """This family member's daytime notifications, newest first."""
    rows = service.my_notifications(session, user=user, now=now, source=source, limit=limit)
    return [
        NotificationOut(
            id=n.id,
            client_id=n.client_id,
            kind=n.kind,
            text=n.text,
            occurred_at=n.occurred_at,
            deliver_after=n.deliver_after,
        )
        for n in rows
    ]


@router.get("/clients/{client_id}/family", response_model=list[LinkOut])
def client_family(
    client_id: str, user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep
) -> list[LinkOut]:
    """The client's family members and what she allowed them (care team only)."""
    try:
        links = service.links_of_client(session, actor=user, client_id=client_id)
    except NotFoundError as exc:
        raise _not_found(exc) from exc
    audit.record(
        session,
        actor=user.id,
        action="family.links.view",
        object_type="family_links",
        object_id=client_id,
        source=source,
        client_id=client_id,
        at=now,
    )
    return links


@router.put("/clients/{client_id}/family", response_model=LinkOut)
def set_family_link(
    client_id: str,
    body: LinkIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
) -> LinkOut:
    """Record what the client (or her representative) allows a family member."""
    try:
        return service.set_link(
            session, actor=user, client_id=client_id, data=body, source=source, now=now
        )
    except NotFoundError as exc:
        raise _not_found(exc) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.delete("/clients/{client_id}/family/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_family_link(
    client_id: str,
    user_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
) -> None:
    """Withdraw a family member's access."""
    try:
        service.remove_link(
            session, actor=user, client_id=client_id, user_id=user_id, source=source, now=now
        )
    except NotFoundError as exc:
        raise _not_found(exc) from exc
