"""My round: today's moments for my teams' clients, sign-off in two taps, four-eyes checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Care:
    """What every medication page handler needs: the request, its unit of work, the nurse
    (or team lead), the clock and the eTRS policy."""

    request: Request
    session: Session
    user: User
    now: datetime
    policy: service.EtrsPolicy

    @property
    def source(self) -> str:
        return request_source(self.request)

    def refusal(self, exc: Exception) -> str:
        return refusal_text(self.request, exc)


def care(
    request: Request, session: SessionDep, user: CareUser, now: NowDep, policy: PolicyDep
) -> Care:
    return Care(request, session, user, now, policy)


CareDep = Annotated[Care, Depends(care)]


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


def administration_view(c: Care, administration_id: str) -> AdministrationView:
    """One administration as the user may see it (404 outside their teams; access-logged)."""
    rec = c.session.get(Administration, administration_id)
    if rec is None or not can_access_client(c.session, c.user, rec.client_id):
        raise HTTPException(404)
    views = service.client_history(
        c.session,
        user=c.user,
        client_id=rec.client_id,
        start=rec.recorded_at,
        end=rec.recorded_at + timedelta(microseconds=1),
        source=c.source,
        now=c.now,
        policy=c.policy,
    )
    for view in views:
        if view.id == administration_id:
            return view
    raise HTTPException(404)


def _round_page(
    c: Care, *, error: str | None = None, error_key: str | None = None, status: int = 200
) -> Response:
    today = c.now.astimezone(AMSTERDAM).date()
    moments = service.moments_for(
        c.session, user=c.user, day=today, source=c.source, now=c.now, policy=c.policy
    )
    t = translator(lang_of(c.request))
    groups = [(hhmm, list(ms)) for hhmm, ms in groupby(moments, key=lambda m: m.time)]
    return render(
        c.request,
        "round/round.html",
        user=c.user,
        **FORMATS,
        active="round",
        day=today,
        groups=groups,
        count=len(moments),
        reasons=reason_choices(t),
        sign_until=c.now + c.policy.sign_ahead,
        sign_ahead=c.policy.sign_ahead,
        error=error,
        error_key=error_key,
        status=status,
    )


@router.get("/round", response_class=HTMLResponse)
def round_page(c: CareDep) -> Response:
    return _round_page(c)


@router.post("/round/sign-off", response_class=HTMLResponse)
def sign_off(
    c: CareDep,
    client_id: Annotated[str, Form()],
    moment_key: Annotated[str, Form()],
    outcome: Annotated[Literal["given", "not_given"], Form()],
    amount: Annotated[str | None, Form()] = None,
    reason_code: Annotated[str | None, Form()] = None,
    reason_text: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        view = service.sign_off(
            c.session,
            user=c.user,
            client_id=client_id,
            moment_key=moment_key,
            outcome=outcome,
            amount=parse_amount(amount) if outcome == "given" else None,
            reason_code=(reason_code or None) if outcome == "not_given" else None,
            reason_text=(reason_text or "").strip() or None,
            source=c.source,
            now=c.now,
            policy=c.policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except (SignOffRefused, PermissionError) as exc:
        return _round_page(c, error=c.refusal(exc), error_key=moment_key, status=409)
    return signed_off(c, view, f"/round#m-{moment_key}")


def signed_off(c: Care, view: AdministrationView, url: str) -> RedirectResponse:
    """To the check page when the record awaits its second person, else to `url`."""
    if view.status == "awaiting_check":
        return see_other(c.session, f"/round/check/{view.id}")
    return see_other(c.session, url)


def _check_page(
    c: Care, administration_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    view = administration_view(c, administration_id)
    requested = c.session.scalar(
        select(CheckRequest.requested_at)
        .where(CheckRequest.administration_id == view.id)
        .order_by(CheckRequest.requested_at.desc())
        .limit(1)
    )
    client = c.session.get(Client, view.client_id)
    return render(
        c.request,
        "round/check.html",
        user=c.user,
        **FORMATS,
        active="round",
        a=view,
        client=client,
        requested_at=requested,
        mine=view.recorded_by == c.user.id,
        expires_at=view.recorded_at + c.policy.check_window,
        error=error,
        status=status,
    )


@router.get("/round/check/{administration_id}", response_class=HTMLResponse)
def check_page(administration_id: str, c: CareDep) -> Response:
    return _check_page(c, administration_id)


@router.post("/round/check/{administration_id}/request", response_class=HTMLResponse)
def request_remote_check(administration_id: str, c: CareDep) -> Response:
    try:
        service.request_check(
            c.session,
            user=c.user,
            administration_id=administration_id,
            source=c.source,
            now=c.now,
            policy=c.policy,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    except SignOffRefused as exc:
        return _check_page(c, administration_id, error=c.refusal(exc), status=409)
    return see_other(c.session, f"/round/check/{administration_id}")


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


def decide(
    c: Care,
    view: AdministrationView,
    *,
    checker: Callable[[], User],
    method: Literal["remote", "same_device"],
    decision: Literal["confirm", "reject"],
    verified: str | None,
    remark: str | None,
    source: str,
) -> str | None:
    """The second person's decision on the record as shown on the screen (`view`); the
    refusal to show, or None. The checker's own errors (AuthError, NotFoundError) are the
    caller's to word."""
    if decision == "confirm" and not verified:
        return translator(lang_of(c.request))("err.verify")
    try:
        out = service.decide_check(
            c.session,
            checker=checker(),
            administration_id=view.id,
            decision=decision,
            seen=facts_of(view),
            method=method,
            remark=(remark or "").strip() or None,
            source=source,
            now=c.now,
            policy=c.policy,
        )
    except SignOffRefused as exc:
        return c.refusal(exc)
    publish_alert(c.request, out.alert)
    return None


@router.post("/round/check/{administration_id}/same-device", response_class=HTMLResponse)
def same_device_check(
    administration_id: str,
    c: CareDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    decision: Annotated[Literal["confirm", "reject"], Form()],
    verified: Annotated[str | None, Form()] = None,
    remark: Annotated[str | None, Form()] = None,
) -> Response:
    view = administration_view(c, administration_id)
    t = translator(lang_of(c.request))
    try:
        error = decide(
            c,
            view,
            checker=lambda: authenticate(c.session, username=username, password=password),
            method="same_device",
            decision=decision,
            verified=verified,
            remark=remark,
            source=f"{c.source};device-user={c.user.id}",
        )
    except AuthError:
        error = t("err.second_login")
    except NotFoundError:
        # The second person's teams do not include this client.
        error = t("err.second_scope")
    if error is not None:
        return _check_page(c, administration_id, error=error, status=409)
    return see_other(c.session, f"/round/check/{administration_id}")
