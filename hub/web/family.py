"""Family (mantelzorger) pages, phone first: linked clients, the day overview, robot
messages (when the client allowed them) and notification choices.

Family see only what the client allowed for the clients they are linked to: every other
client answers 404, as do all team and medication pages. Nothing here reads dispenser
events or medication data. Every view is access-logged through hub.family.service.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from etrs.routes import NowDep
from hub import audit
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import NotFoundError
from hub.family import service
from hub.family.alerts import alerts_of_day
from hub.family.models import FamilyLink
from hub.family.schemas import NotificationKind
from hub.robots.schedule import day_bounds, local_day
from hub.store.models import Client, Event
from hub.web.charts import Mark, heatmap_svg, timeline_svg
from hub.web.i18n import lang_of, translator
from hub.web.robots import audit_view, message_routes, robot_context
from hub.web.round import FORMATS, see_other
from hub.web.routes import OptionalUser, render

router = APIRouter(prefix="/family", include_in_schema=False)

DAYS = 14
ACTIVITY_TYPES = ("motion", "contact", "occupancy")


def family_user(request: Request, user: OptionalUser) -> User:
    """A family account; anonymous visitors log in first, everyone else gets a plain 404."""
    if user is None:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if user.role != "family":
        raise HTTPException(404)
    return user


FamilyUser = Annotated[User, Depends(family_user)]


def _sources(request: Request) -> dict[str, Any]:
    state = request.app.state
    return {
        "alerts": getattr(state, "family_alert_source", alerts_of_day),
        "settings": getattr(state, "family_answer_settings", service.default_settings),
    }


def _link(session: Session, user: User, client_id: str) -> FamilyLink:
    try:
        return service.require_family_link(session, user=user, client_id=client_id)
    except NotFoundError as exc:
        raise HTTPException(404) from exc


def day_marks(session: Session, *, home_id: str | None, day: date, t: Any) -> list[Mark]:
    """Rooms, doors, bed and chair on one day for the timeline (never dispenser events)."""
    if home_id is None:
        return []
    start, end = day_bounds(day)
    rows = session.execute(
        select(Event.ts, Event.type, Event.data)
        .where(
            Event.home_id == home_id,
            Event.type.in_(ACTIVITY_TYPES),
            Event.ts >= start,
            Event.ts < end,
        )
        .order_by(Event.ts)
    )
    marks: list[Mark] = []
    for ts, kind, data in rows:
        if kind == "motion":
            marks.append(Mark(ts, t(f"room.{data.get('room')}"), t("event.motion"), "room"))
        elif kind == "contact" and data.get("state") == "open":
            marks.append(Mark(ts, t(f"door.{data.get('door')}"), t("event.open"), "door"))
        elif kind == "occupancy" and data.get("state") == "occupied":
            marks.append(Mark(ts, t(f"place.{data.get('place')}"), t("event.occupied"), "room"))
    return marks


_MISSED = re.compile(r"^(\d+) robot message\(s\) not spoken$")


def reason_text(t: Any, reason: str) -> str:
    """A traffic-light reason (hub.family.service's words) in the page's language."""
    missed = _MISSED.match(reason)
    if missed:
        template: str = t("freason.missed")
        return template.replace("%s", missed.group(1))
    key = f"freason.{reason}"
    text: str = t(key)
    return reason if text == key else text


@router.get("", response_class=HTMLResponse)
def family_home(request: Request, session: SessionDep, user: FamilyUser, now: NowDep) -> Response:
    source = request_source(request)
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
    today = local_day(now)
    lights: dict[str, str] = {}
    for link in links:
        if link.day_overview:
            (_, light, _reasons), *_ = service.day_lights(
                session,
                user=user,
                client_id=link.client_id,
                days=[today],
                now=now,
                source=source,
                **_sources(request),
            )
            lights[link.client_id] = light
    notes = service.my_notifications(session, user=user, now=now, source=source, limit=20)
    names = {link.client_id: link.client_name for link in links}
    return render(
        request,
        "family/index.html",
        user=user,
        **FORMATS,
        active="family",
        links=links,
        lights=lights,
        notes=notes,
        names=names,
        status=200,
    )


def _client_page(
    request: Request,
    session: Session,
    *,
    user: User,
    client_id: str,
    now: datetime,
    day: date | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    link = _link(session, user, client_id)
    client = session.get(Client, client_id)
    if client is None:
        raise HTTPException(404)
    source = request_source(request)
    t = translator(lang_of(request))
    today = local_day(now)
    days = [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    chosen = day if day is not None and days[0] <= day <= today else today
    src = _sources(request)
    lights = [
        (d, light, [reason_text(t, r) for r in reasons])
        for d, light, reasons in service.day_lights(
            session, user=user, client_id=client_id, days=days, now=now, source=source, **src
        )
    ]
    overview = service.day_overview(
        session, user=user, client_id=client_id, day=chosen, now=now, source=source, **src
    )
    counts = service.activity_counts(session, home_id=client.home_id, days=days)
    day_names = [t(f"day.{n}") for n in range(7)]
    marks = day_marks(session, home_id=client.home_id, day=chosen, t=t)
    robot: dict[str, Any] = {"today": today}
    if link.robot_messages:
        audit_view(session, user=user, client_id=client_id, source=source, now=now, what="robot")
        robot = robot_context(session, user=user, client_id=client_id, now=now)
    return render(
        request,
        "family/client.html",
        user=user,
        **FORMATS,
        **robot,
        active="family",
        client=client,
        link=link,
        lights=lights,
        overview=overview,
        chosen=chosen,
        heatmap=heatmap_svg(counts, days, label=t("family.heatmap"), day_names=day_names),
        timeline=timeline_svg(
            marks, label=t("family.timeline"), now=now if chosen == today else None
        ),
        reasons=[reason_text(t, r) for r in overview.reasons],
        kinds=list(NotificationKind),
        base=f"/family/{client_id}/robot",
        republish=False,
        error=error,
        form=form or {},
        status=status,
    )


@router.get("/{client_id}", response_class=HTMLResponse)
def family_client(
    client_id: str,
    request: Request,
    session: SessionDep,
    user: FamilyUser,
    now: NowDep,
    day: Annotated[date | None, Query()] = None,
) -> Response:
    return _client_page(request, session, user=user, client_id=client_id, now=now, day=day)


@router.post("/{client_id}/notify", response_class=HTMLResponse)
def set_notifications(
    client_id: str,
    request: Request,
    session: SessionDep,
    user: FamilyUser,
    now: NowDep,
    kinds: Annotated[list[str] | None, Form()] = None,
) -> Response:
    chosen = [NotificationKind(k) for k in kinds or [] if k in set(NotificationKind)]
    try:
        service.set_my_notifications(
            session,
            user=user,
            client_id=client_id,
            kinds=chosen,
            source=request_source(request),
            now=now,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    return see_other(session, f"/family/{client_id}?notify=1#notify")


def _robot_link(session: Session, user: User, client_id: str) -> None:
    link = _link(session, user, client_id)
    if not link.robot_messages:
        raise HTTPException(404)


message_routes(
    router,
    who=family_user,
    guard=_robot_link,
    page=_client_page,
    done=lambda client_id, what: f"/family/{client_id}?{what}=1#robot-messages",
)
