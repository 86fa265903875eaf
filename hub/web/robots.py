"""Team pages for a client's day-structure robot: messages, delivery state, the robot's day.

Every change goes through hub.robots.service (version bump + audit), is committed, and only
then is the full schedule published to the robot (ADR 0010). The page shows *pending*
until the robot's ack for the current version is stored, and whether the robot is offline.
"""

# No `from __future__ import annotations` here: FastAPI reads the annotations of the
# endpoints that message_routes() builds, and those name the page's user dependency, a
# closure variable that string annotations could not resolve.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from etrs.routes import NowDep
from hub import audit
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import NotFoundError
from hub.robots import service
from hub.robots.publisher import Publisher
from hub.robots.schedule import local_day
from hub.robots.schemas import MessageIn, ScheduleStatusOut, TimelineEntryOut
from hub.store.models import Client
from hub.web.i18n import lang_of, translator
from hub.web.round import FORMATS, CareUser, care_user, see_other
from hub.web.routes import render

router = APIRouter(prefix="/clients", include_in_schema=False)

TIMELINE_DAYS = 2  # today and yesterday: what the robot said and what she answered
WEEKDAYS = range(1, 8)


# --- shared with the family pages -----------------------------------------------------------


def message_in(
    *,
    text: str,
    at: str,
    recurrence: str,
    weekdays: list[int] | None,
    on: str | None,
    question: str | None,
    repeat_min: str | None,
) -> MessageIn:
    """A message from the form fields (raises ValidationError / ValueError)."""
    rec = recurrence if recurrence in ("once", "daily", "weekdays") else "daily"
    repeat = int(repeat_min) if question and repeat_min and repeat_min.strip() else None
    return MessageIn.model_validate(
        {
            "text": text.strip(),
            "at": at,
            "recurrence": rec,
            "weekdays": sorted(set(weekdays)) if rec == "weekdays" and weekdays else None,
            "on": on if rec == "once" and on else None,
            "question": bool(question),
            "repeat_if_unanswered_min": repeat,
        }
    )


def form_error(request: Request, exc: Exception) -> str:
    """A refused form in the user's language (the first validation problem)."""
    t = translator(lang_of(request))
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
        msg = str(first.get("msg", "")).removeprefix("Value error, ")
        return f"{t('robot.invalid')} {where}: {msg}".replace(" : ", ": ")
    return f"{t('robot.invalid')} {exc}"


def deliver(request: Request, session: Session, *, client_id: str, now: datetime) -> None:
    """Commit the change, then send the full schedule to the robot (if the hub has a broker)."""
    session.commit()  # the robot must never hold a version we roll back (ADR 0010)
    publisher: Publisher | None = getattr(request.app.state, "robot_publisher", None)
    if publisher is not None:
        service.publish_schedule(session, client_id=client_id, publisher=publisher, now=now)


def robot_context(session: Session, *, user: User, client_id: str, now: datetime) -> dict[str, Any]:
    """What a robot page shows: delivery state, messages (and who may change them), the days."""
    status: ScheduleStatusOut = service.schedule_status(session, client_id=client_id)
    messages = service.list_messages(session, client_id=client_id)
    today = local_day(now)
    days: list[tuple[date, list[TimelineEntryOut]]] = []
    for n in range(TIMELINE_DAYS):
        day = today - timedelta(days=n)
        entries = service.day_timeline(session, client_id=client_id, day=day, now=now).entries
        days.append((day, entries))
    return {
        "rstatus": status,
        "messages": messages,
        "mine": {m.id for m in messages if user.role != "family" or m.created_by == user.id},
        "days": days,
        "today": today,
        "weekdays": WEEKDAYS,
    }


def audit_view(
    session: Session, *, user: User, client_id: str, source: str, now: datetime, what: str
) -> None:
    """Access log of a robot page view (NEN 7513)."""
    audit.record(
        session,
        actor=user.id,
        action=f"web.{what}.view",
        object_type="robot_schedule",
        object_id=client_id,
        client_id=client_id,
        source=source,
        at=now,
    )


FormText = Annotated[str, Form()]
FormOpt = Annotated[str | None, Form()]
FormDays = Annotated[list[int] | None, Form()]


@dataclass(frozen=True, slots=True)
class MessageForm:
    """The fields of the add and change forms, as typed."""

    text: str
    at: str
    recurrence: str
    weekdays: list[int] | None
    on: str | None
    question: str | None
    repeat_min: str | None

    def message(self) -> MessageIn:
        """The message (raises ValidationError / ValueError)."""
        return message_in(
            text=self.text,
            at=self.at,
            recurrence=self.recurrence,
            weekdays=self.weekdays,
            on=self.on,
            question=self.question,
            repeat_min=self.repeat_min,
        )

    def echo(self) -> dict[str, Any]:
        """What the refused add form shows again."""
        return {
            "text": self.text,
            "at": self.at,
            "recurrence": self.recurrence,
            "weekdays": self.weekdays or [],
            "on": self.on or "",
            "question": bool(self.question),
        }


def message_form(
    text: FormText,
    at: FormText,
    recurrence: FormText,
    weekdays: FormDays = None,
    on: FormOpt = None,
    question: FormOpt = None,
    repeat_min: FormOpt = None,
) -> MessageForm:
    return MessageForm(text, at, recurrence, weekdays, on, question, repeat_min)


MessageFormDep = Annotated[MessageForm, Depends(message_form)]


class MessagePage(Protocol):
    """A robot page rendered again with a refused form (422)."""

    def __call__(
        self,
        request: Request,
        session: Session,
        *,
        user: User,
        client_id: str,
        now: datetime,
        error: str | None = None,
        status: int = 200,
        form: dict[str, Any] | None = None,
    ) -> Response: ...


def message_routes(
    router: APIRouter,
    *,
    who: Callable[..., User],
    guard: Callable[[Session, User, str], object],
    page: MessagePage,
    done: Callable[[str, str], str],
) -> None:
    """Add, change and remove a robot message: the same forms on the team and family pages.

    who: the page's user dependency; guard(session, user, client_id): 404 unless this user
    may change this client's messages; page: the page again with a refused form; done(client_id,
    "saved" | "removed"): where the browser goes after a change. Every change is committed and
    then published (deliver). Family may change only what they wrote (403).
    """
    PageUser = Annotated[User, Depends(who)]

    def change(
        request: Request,
        session: Session,
        *,
        user: User,
        client_id: str,
        now: datetime,
        apply: Callable[[], object],
        refused_form: dict[str, Any] | None = None,
        what: str = "saved",
    ) -> Response:
        guard(session, user, client_id)
        try:
            apply()
        except NotFoundError as exc:
            raise HTTPException(404) from exc
        except service.PermissionDeniedError as exc:
            raise HTTPException(403) from exc
        except (ValidationError, ValueError) as exc:
            error = form_error(request, exc)
            return page(
                request,
                session,
                user=user,
                client_id=client_id,
                now=now,
                error=error,
                status=422,
                form=refused_form,
            )
        deliver(request, session, client_id=client_id, now=now)
        return see_other(session, done(client_id, what))

    @router.post("/{client_id}/robot/messages", response_class=HTMLResponse)
    def add_message(
        client_id: str,
        request: Request,
        session: SessionDep,
        user: PageUser,
        now: NowDep,
        form: MessageFormDep,
    ) -> Response:
        def apply() -> object:
            return service.add_message(
                session,
                user=user,
                client_id=client_id,
                data=form.message(),
                source=request_source(request),
                now=now,
            )

        return change(
            request,
            session,
            user=user,
            client_id=client_id,
            now=now,
            apply=apply,
            refused_form=form.echo(),
        )

    @router.post("/{client_id}/robot/messages/{message_id}", response_class=HTMLResponse)
    def update_message(
        client_id: str,
        message_id: str,
        request: Request,
        session: SessionDep,
        user: PageUser,
        now: NowDep,
        form: MessageFormDep,
    ) -> Response:
        def apply() -> object:
            return service.update_message(
                session,
                user=user,
                client_id=client_id,
                message_id=message_id,
                data=form.message(),
                source=request_source(request),
                now=now,
            )

        return change(request, session, user=user, client_id=client_id, now=now, apply=apply)

    @router.post("/{client_id}/robot/messages/{message_id}/delete", response_class=HTMLResponse)
    def delete_message(
        client_id: str,
        message_id: str,
        request: Request,
        session: SessionDep,
        user: PageUser,
        now: NowDep,
    ) -> Response:
        def apply() -> object:
            service.delete_message(
                session,
                user=user,
                client_id=client_id,
                message_id=message_id,
                source=request_source(request),
                now=now,
            )
            return None

        return change(
            request, session, user=user, client_id=client_id, now=now, apply=apply, what="removed"
        )


# --- team pages -----------------------------------------------------------------------------


def _client(session: Session, user: User, client_id: str) -> Client:
    try:
        return service.require_robot_access(session, user=user, client_id=client_id)
    except NotFoundError as exc:
        raise HTTPException(404) from exc


def _page(
    request: Request,
    session: Session,
    *,
    user: User,
    client_id: str,
    now: datetime,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    client = _client(session, user, client_id)
    audit_view(
        session,
        user=user,
        client_id=client_id,
        source=request_source(request),
        now=now,
        what="robot",
    )
    ctx = robot_context(session, user=user, client_id=client_id, now=now)
    return render(
        request,
        "robots/robot.html",
        user=user,
        **FORMATS,
        **ctx,
        active="round",
        client=client,
        base=f"/clients/{client_id}/robot",
        error=error,
        form=form or {},
        status=status,
    )


@router.get("/{client_id}/robot", response_class=HTMLResponse)
def robot_page(
    client_id: str, request: Request, session: SessionDep, user: CareUser, now: NowDep
) -> Response:
    return _page(request, session, user=user, client_id=client_id, now=now)


message_routes(
    router,
    who=care_user,
    guard=_client,
    page=_page,
    done=lambda client_id, what: f"/clients/{client_id}/robot?{what}=1",
)


@router.post("/{client_id}/robot/publish", response_class=HTMLResponse)
def republish(
    client_id: str, request: Request, session: SessionDep, user: CareUser, now: NowDep
) -> Response:
    """Send the current schedule again (after the broker or the robot was away)."""
    _client(session, user, client_id)
    audit.record(
        session,
        actor=user.id,
        action="robot.schedule.publish",
        object_type="robot_schedule",
        object_id=client_id,
        source=request_source(request),
        client_id=client_id,
        at=now,
    )
    deliver(request, session, client_id=client_id, now=now)
    return see_other(session, f"/clients/{client_id}/robot")
