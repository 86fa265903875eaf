"""My round: today's moments for my teams' clients, sign-off in two taps, four-eyes checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import groupby
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from etrs import service
from etrs.models import Administration, CheckRequest
from etrs.routes import NowDep, PolicyDep
from etrs.schedule import AMSTERDAM
from etrs.schemas import NOT_GIVEN_REASONS, AdministrationView, CheckFacts, EtrsAlert
from etrs.service import SignOffRefused
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import AuthError, NotFoundError, authenticate, can_access_client
from hub.store.models import Client
from hub.web.i18n import lang_of, translator
from hub.web.routes import OptionalUser, render

router = APIRouter(include_in_schema=False)

CARE_ROLES = frozenset({"nurse", "team_lead"})
# Known refusals in the nurse's language; anything else is shown as the service says it.
_REFUSALS = (
    ("acknowledge the changes", "err.ack"),
    ("second, different person", "err.second_person"),
    ("does not match the administration", "err.mismatch"),
    ("rejection needs a remark", "err.remark"),
    ("not given needs an MP9 reason", "err.reason"),
    ("reason 'other' needs a text", "err.other_text"),
    ("too far ahead", "err.ahead"),
    ("already signed off", "err.already"),
    ("qualification does not allow double checks", "err.not_checker"),
    ("per 24 hours would be exceeded", "err.prn_max"),
    ("needs the reason it was given", "err.prn_reason"),
    ("already corrected", "correct.done"),
    ("just corrected by someone else", "correct.done"),
)


def hm(at: datetime | None) -> str:
    """A time as HH:MM on the Amsterdam clock (what the nurse's watch says)."""
    return "" if at is None else at.astimezone(AMSTERDAM).strftime("%H:%M")


def dmy_hm(at: datetime | None) -> str:
    """A date and time as DD-MM HH:MM on the Amsterdam clock."""
    return "" if at is None else at.astimezone(AMSTERDAM).strftime("%d-%m %H:%M")


def num(value: Decimal | None) -> str:
    """A dose amount without trailing zeros."""
    return "" if value is None else f"{Decimal(value).normalize():f}"


# Formatting helpers every medication page passes to its template.
FORMATS = {"hm": hm, "dmy_hm": dmy_hm, "num": num}


def see_other(session: Session, url: str) -> RedirectResponse:
    """Commit, then redirect (POST-redirect-GET).

    FastAPI closes the request's unit of work only after the response is sent, so without
    this commit the browser's next GET could arrive before the change is visible.
    """
    session.commit()
    return RedirectResponse(url, status_code=303)


def care_user(request: Request, user: OptionalUser) -> User:
    """Nurses and team leads; anonymous visitors log in first, other roles get a plain 404."""
    if user is None:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if user.role not in CARE_ROLES:
        raise HTTPException(404)
    return user


CareUser = Annotated[User, Depends(care_user)]


def refusal_text(request: Request, exc: Exception) -> str:
    """A refusal in the UI language: the known reasons translated, the rest as given."""
    t = translator(lang_of(request))
    message = str(exc)
    for phrase, key in _REFUSALS:
        if phrase in message:
            return t(key)
    return f"{t('err.refused')}: {message}"


def reason_choices(t: Callable[[str], str]) -> list[tuple[str, str]]:
    """The MP9 not-given reasons as (code, label) in the UI language."""
    return [(code, t(f"reason.{code}")) for code in NOT_GIVEN_REASONS]


def parse_amount(raw: str | None) -> Decimal | None:
    """An amount typed on a tablet ("2,5" or "2.5"); empty means the list's dose."""
    if raw is None or not raw.strip():
        return None
    try:
        value = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation as exc:
        raise SignOffRefused("the amount is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise SignOffRefused("the amount given must be positive")
    return value


def administration_view(
    session: Session,
    *,
    user: User,
    administration_id: str,
    source: str,
    now: datetime,
    policy: service.EtrsPolicy,
) -> AdministrationView:
    """One administration as the user may see it (404 outside their teams; access-logged)."""
    rec = session.get(Administration, administration_id)
    if rec is None or not can_access_client(session, user, rec.client_id):
        raise HTTPException(404)
    views = service.client_history(
        session,
        user=user,
        client_id=rec.client_id,
        start=rec.recorded_at,
        end=rec.recorded_at + timedelta(microseconds=1),
        source=source,
        now=now,
        policy=policy,
    )
    for view in views:
        if view.id == administration_id:
            return view
    raise HTTPException(404)


def _round_page(
    request: Request,
    session: Session,
    *,
    user: User,
    now: NowDep,
    policy: PolicyDep,
    error: str | None = None,
    error_key: str | None = None,
    status: int = 200,
) -> Response:
    today = now.astimezone(AMSTERDAM).date()
    moments = service.moments_for(
        session, user=user, day=today, source=request_source(request), now=now, policy=policy
    )
    t = translator(lang_of(request))
    groups = [(hhmm, list(ms)) for hhmm, ms in groupby(moments, key=lambda m: m.time)]
    return render(
        request,
        "round/round.html",
        user=user,
        **FORMATS,
        active="round",
        day=today,
        groups=groups,
        count=len(moments),
        reasons=reason_choices(t),
        sign_until=now + policy.sign_ahead,
        sign_ahead=policy.sign_ahead,
        error=error,
        error_key=error_key,
        status=status,
    )


@router.get("/round", response_class=HTMLResponse)
def round_page(
    request: Request, session: SessionDep, user: CareUser, now: NowDep, policy: PolicyDep
) -> Response:
    return _round_page(request, session, user=user, now=now, policy=policy)


@router.post("/round/sign-off", response_class=HTMLResponse)
def sign_off(
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    policy: PolicyDep,
    client_id: Annotated[str, Form()],
    moment_key: Annotated[str, Form()],
    outcome: Annotated[Literal["given", "not_given"], Form()],
    amount: Annotated[str | None, Form()] = None,
    reason_code: Annotated[str | None, Form()] = None,
    reason_text: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        view = service.sign_off(
            session,
            user=user,
            client_id=client_id,
            moment_key=moment_key,
            outcome=outcome,
            amount=parse_amount(amount) if outcome == "given" else None,
            reason_code=(reason_code or None) if outcome == "not_given" else None,
            reason_text=(reason_text or "").strip() or None,
            source=request_source(request),
            now=now,
            policy=policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except (SignOffRefused, PermissionError) as exc:
        return _round_page(
            request,
            session,
            user=user,
            now=now,
            policy=policy,
            error=refusal_text(request, exc),
            error_key=moment_key,
            status=409,
        )
    if view.status == "awaiting_check":
        return see_other(session, f"/round/check/{view.id}")
    return see_other(session, f"/round#m-{moment_key}")


def _check_page(
    request: Request,
    session: Session,
    *,
    user: User,
    administration_id: str,
    now: NowDep,
    policy: PolicyDep,
    error: str | None = None,
    status: int = 200,
) -> Response:
    view = administration_view(
        session,
        user=user,
        administration_id=administration_id,
        source=request_source(request),
        now=now,
        policy=policy,
    )
    requested = session.scalar(
        select(CheckRequest.requested_at)
        .where(CheckRequest.administration_id == view.id)
        .order_by(CheckRequest.requested_at.desc())
        .limit(1)
    )
    client = session.get(Client, view.client_id)
    return render(
        request,
        "round/check.html",
        user=user,
        **FORMATS,
        active="round",
        a=view,
        client=client,
        requested_at=requested,
        mine=view.recorded_by == user.id,
        expires_at=view.recorded_at + policy.check_window,
        error=error,
        status=status,
    )


@router.get("/round/check/{administration_id}", response_class=HTMLResponse)
def check_page(
    administration_id: str,
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    policy: PolicyDep,
) -> Response:
    return _check_page(
        request, session, user=user, administration_id=administration_id, now=now, policy=policy
    )


@router.post("/round/check/{administration_id}/request", response_class=HTMLResponse)
def request_remote_check(
    administration_id: str,
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    policy: PolicyDep,
) -> Response:
    try:
        service.request_check(
            session,
            user=user,
            administration_id=administration_id,
            source=request_source(request),
            now=now,
            policy=policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except SignOffRefused as exc:
        return _check_page(
            request,
            session,
            user=user,
            administration_id=administration_id,
            now=now,
            policy=policy,
            error=refusal_text(request, exc),
            status=409,
        )
    return see_other(session, f"/round/check/{administration_id}")


def publish_alert(request: Request, alert: EtrsAlert | None) -> None:
    """Hand a rejected check's alert to the hub's alert pipeline (as the REST API does)."""
    sink: Callable[[list[EtrsAlert]], None] | None = getattr(
        request.app.state, "etrs_alert_sink", None
    )
    if sink is not None and alert is not None:
        sink([alert])


def facts_of(view: AdministrationView) -> CheckFacts:
    """What the second person verified: the record as shown to them on the screen."""
    return CheckFacts(
        client_id=view.client_id,
        medication_key=view.medication_key,
        amount=view.amount,
        moment_key=view.moment_key,
    )


@router.post("/round/check/{administration_id}/same-device", response_class=HTMLResponse)
def same_device_check(
    administration_id: str,
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    policy: PolicyDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    decision: Annotated[Literal["confirm", "reject"], Form()],
    verified: Annotated[str | None, Form()] = None,
    remark: Annotated[str | None, Form()] = None,
) -> Response:
    source = request_source(request)
    view = administration_view(
        session,
        user=user,
        administration_id=administration_id,
        source=source,
        now=now,
        policy=policy,
    )
    t = translator(lang_of(request))
    error: str | None = None
    if decision == "confirm" and not verified:
        error = t("err.verify")
    else:
        try:
            checker = authenticate(session, username=username, password=password)
            out = service.decide_check(
                session,
                checker=checker,
                administration_id=administration_id,
                decision=decision,
                seen=facts_of(view),
                method="same_device",
                remark=(remark or "").strip() or None,
                source=f"{source};device-user={user.id}",
                now=now,
                policy=policy,
            )
            publish_alert(request, out.alert)
        except AuthError:
            error = t("err.second_login")
        except NotFoundError:
            # The second person's teams do not include this client.
            error = t("err.second_scope")
        except SignOffRefused as exc:
            error = refusal_text(request, exc)
    if error is not None:
        return _check_page(
            request,
            session,
            user=user,
            administration_id=administration_id,
            now=now,
            policy=policy,
            error=error,
            status=409,
        )
    return see_other(session, f"/round/check/{administration_id}")
