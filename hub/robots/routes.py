"""REST API of robot schedules: messages CRUD, delivery status, re-send, and the day timeline.

Every change is committed before it is sent to the robot, so a version number the robot
has seen is never rolled back (ADR 0010). The publisher comes from
`app.state.robot_publisher` (a `Publisher`); without one, changes stay `unpublished`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub import audit
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.auth.models import User
from hub.auth.service import NotFoundError
from hub.robots import service
from hub.robots.publisher import Publisher
from hub.robots.schedule import local_day
from hub.robots.schemas import MessageIn, MessageOut, ScheduleOut, ScheduleStatusOut, TimelineOut

router = APIRouter(prefix="/api/v1", tags=["robots"])


def get_now() -> datetime:
    """The current time (overridden in tests)."""
    return datetime.now(UTC)


def get_publisher(request: Request) -> Publisher | None:
    """The hub's command publisher, when the hub runs with a broker."""
    publisher: Publisher | None = getattr(request.app.state, "robot_publisher", None)
    return publisher


NowDep = Annotated[datetime, Depends(get_now)]
PublisherDep = Annotated[Publisher | None, Depends(get_publisher)]


class MessageChangeOut(BaseModel):
    """A changed message and where its delivery stands."""

    message: MessageOut
    status: ScheduleStatusOut


def _access(session: Session, user: User, client_id: str) -> None:
    try:
        service.require_robot_access(session, user=user, client_id=client_id)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def _deliver(
    session: Session, client_id: str, publisher: Publisher | None, now: datetime
) -> ScheduleStatusOut:
    # Commit the new version first: the robot must never hold a version we roll back.
    session.commit()
    if publisher is None:
        return service.schedule_status(session, client_id=client_id)
    return service.publish_schedule(session, client_id=client_id, publisher=publisher, now=now)


def _view(
    session: Session, user: User, client_id: str, what: str, source: str, now: datetime
) -> None:
    audit.record(
        session,
        actor=user.id,
        action=f"robot.{what}.view",
        object_type=f"robot_{what}",
        object_id=client_id,
        source=source,
        client_id=client_id,
        at=now,
    )


@router.get("/clients/{client_id}/robot/schedule", response_model=ScheduleOut)
def get_schedule(
    client_id: str, user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep
) -> ScheduleOut:
    """The client's robot messages and whether the robot has confirmed them."""
    _access(session, user, client_id)
    _view(session, user, client_id, "schedule", source, now)
    return ScheduleOut(
        status=service.schedule_status(session, client_id=client_id),
        messages=[
            service.message_out(m) for m in service.list_messages(session, client_id=client_id)
        ],
    )


@router.get("/clients/{client_id}/robot/status", response_model=ScheduleStatusOut)
def get_status(
    client_id: str, user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep
) -> ScheduleStatusOut:
    """Delivery state: no_robot, unpublished, pending (not yet acked), confirmed, rejected."""
    _access(session, user, client_id)
    _view(session, user, client_id, "status", source, now)
    return service.schedule_status(session, client_id=client_id)


@router.post(
    "/clients/{client_id}/robot/messages",
    response_model=MessageChangeOut,
    status_code=status.HTTP_201_CREATED,
)
def add_message(
    client_id: str,
    body: MessageIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    publisher: PublisherDep,
) -> MessageChangeOut:
    """Add a message; the full schedule is sent to the robot with a new version."""
    try:
        m = service.add_message(
            session, user=user, client_id=client_id, data=body, source=source, now=now
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.ScheduleFullError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    out = service.message_out(m)
    return MessageChangeOut(message=out, status=_deliver(session, client_id, publisher, now))


@router.put("/clients/{client_id}/robot/messages/{message_id}", response_model=MessageChangeOut)
def update_message(
    client_id: str,
    message_id: str,
    body: MessageIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    publisher: PublisherDep,
) -> MessageChangeOut:
    """Replace a message; the full schedule is sent to the robot with a new version."""
    try:
        m = service.update_message(
            session,
            user=user,
            client_id=client_id,
            message_id=message_id,
            data=body,
            source=source,
            now=now,
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.PermissionDeniedError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    out = service.message_out(m)
    return MessageChangeOut(message=out, status=_deliver(session, client_id, publisher, now))


@router.delete("/clients/{client_id}/robot/messages/{message_id}", response_model=ScheduleStatusOut)
def delete_message(
    client_id: str,
    message_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    publisher: PublisherDep,
) -> ScheduleStatusOut:
    """Remove a message; the full schedule is sent to the robot with a new version."""
    try:
        service.delete_message(
            session, user=user, client_id=client_id, message_id=message_id, source=source, now=now
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except service.PermissionDeniedError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    return _deliver(session, client_id, publisher, now)


@router.post("/clients/{client_id}/robot/publish", response_model=ScheduleStatusOut)
def republish(
    client_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    publisher: PublisherDep,
    response: Response,
) -> ScheduleStatusOut:
    """Send the current schedule again (e.g. after the broker was away)."""
    _access(session, user, client_id)
    if publisher is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return service.schedule_status(session, client_id=client_id)
    audit.record(
        session,
        actor=user.id,
        action="robot.schedule.publish",
        object_type="robot_schedule",
        object_id=client_id,
        source=source,
        client_id=client_id,
        at=now,
    )
    return service.publish_schedule(session, client_id=client_id, publisher=publisher, now=now)


@router.get("/clients/{client_id}/robot/timeline", response_model=TimelineOut)
def get_timeline(
    client_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    day: Annotated[date | None, Query(description="Amsterdam date; today by default")] = None,
) -> TimelineOut:
    """The robot's day: messages spoken, answers (yes / no / no answer), missed moments."""
    _access(session, user, client_id)
    _view(session, user, client_id, "timeline", source, now)
    return service.day_timeline(session, client_id=client_id, day=day or local_day(now), now=now)
