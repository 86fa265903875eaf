"""eTRS REST API under /api/v1/etrs (the hub mounts `router`).

Dependencies the hub may override: `hub.auth.deps.get_session` (one unit of work per
request), `get_now` (the clock) and `get_policy` (organisation policy). Alert decisions
(rejected checks) go to `app.state.etrs_alert_sink(alerts)` when the hub sets one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session

from etrs import fhir_export, lists, printable, service
from etrs.schedule import AMSTERDAM
from etrs.schemas import (
    AcknowledgeIn,
    AdministrationView,
    CheckDecisionIn,
    CheckRequestIn,
    CheckRequestView,
    CorrectionIn,
    EtrsAlert,
    MomentView,
    PrnIn,
    SameDeviceCheckIn,
    SignOffIn,
)
from etrs.service import EtrsPolicy, SignOffRefused
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.auth.service import AuthError, NotFoundError, authenticate


# The two are coroutines so that FastAPI runs them on the event loop: a plain function
# dependency costs every request a trip through the thread pool.
async def get_now() -> datetime:
    """The clock (overridden in tests and replays)."""
    return datetime.now(UTC)


async def get_policy() -> EtrsPolicy:
    """The organisation's eTRS policy."""
    return service.DEFAULT_POLICY


NowDep = Annotated[datetime, Depends(get_now)]
PolicyDep = Annotated[EtrsPolicy, Depends(get_policy)]

router = APIRouter(prefix="/api/v1/etrs", tags=["etrs"])


@contextmanager
def _unit(session: Session) -> Iterator[None]:
    """Commit when the service call succeeds; map refusals to HTTP answers (404 for scope).

    The commit happens here, before FastAPI serialises the response, because every call
    writes an access-log entry under the audit chain's lock: waiting for the response to
    be serialised on a worker thread while other threads queue for that lock can starve
    the thread pool (seen in bench/signoff.py with 200 nurses).
    """
    try:
        yield
        session.commit()
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    except SignOffRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except PermissionError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc


def _publish(request: Request, alerts: list[EtrsAlert]) -> None:
    sink: Callable[[list[EtrsAlert]], None] | None = getattr(
        request.app.state, "etrs_alert_sink", None
    )
    if sink is not None and alerts:
        sink(alerts)


class CheckOutcomeOut(BaseModel):
    """A double-check decision's result."""

    administration: AdministrationView
    alert: EtrsAlert | None


class CheckRequestOut(BaseModel):
    """A created check request."""

    id: str
    administration_id: str
    to_user_id: str | None


@router.get("/moments", response_model=list[MomentView])
def todays_moments(
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
    day: date | None = None,
    client_id: str | None = None,
) -> list[MomentView]:
    """Administration moments of a day (default today) for my teams' clients."""
    with _unit(session):
        return service.moments_for(
            session,
            user=user,
            day=day or now.astimezone(AMSTERDAM).date(),
            source=source,
            client_id=client_id,
            now=now,
            policy=policy,
        )


@router.post("/sign-off", response_model=AdministrationView, status_code=201)
def sign_off(
    body: SignOffIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> AdministrationView:
    """Sign off a moment (given, or not given with an MP9 reason)."""
    with _unit(session):
        return service.sign_off(
            session,
            user=user,
            client_id=body.client_id,
            moment_key=body.moment_key,
            outcome=body.outcome,
            actual_at=body.actual_at,
            amount=body.amount,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            source=source,
            now=now,
            policy=policy,
        )


@router.post("/prn", response_model=AdministrationView, status_code=201)
def give_prn(
    body: PrnIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> AdministrationView:
    """Record an as-needed dose with its reason (refused above the maximum per 24 h)."""
    with _unit(session):
        return service.give_prn(
            session,
            user=user,
            client_id=body.client_id,
            item_id=body.item_id,
            amount=body.amount,
            reason=body.reason,
            actual_at=body.actual_at,
            source=source,
            now=now,
            policy=policy,
        )


@router.post(
    "/administrations/{administration_id}/corrections",
    response_model=AdministrationView,
    status_code=201,
)
def correct(
    administration_id: str,
    body: CorrectionIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> AdministrationView:
    """Correct a record with a new record pointing at it."""
    with _unit(session):
        return service.correct_administration(
            session,
            user=user,
            administration_id=administration_id,
            outcome=body.outcome,
            actual_at=body.actual_at,
            amount=body.amount,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            source=source,
            now=now,
            policy=policy,
        )


@router.post(
    "/administrations/{administration_id}/check-requests",
    response_model=CheckRequestOut,
    status_code=201,
)
def request_check(
    administration_id: str,
    body: CheckRequestIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> CheckRequestOut:
    """Ask a colleague (or any qualified colleague) for a remote double check."""
    with _unit(session):
        req = service.request_check(
            session,
            user=user,
            administration_id=administration_id,
            to_user_id=body.to_user_id,
            source=source,
            now=now,
            policy=policy,
        )
    return CheckRequestOut(
        id=req.id, administration_id=req.administration_id, to_user_id=req.to_user_id
    )


@router.get("/checks/inbox", response_model=list[CheckRequestView])
def inbox(
    user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep, policy: PolicyDep
) -> list[CheckRequestView]:
    """Open double-check requests I may answer."""
    with _unit(session):
        return service.check_inbox(session, user=user, source=source, now=now, policy=policy)


@router.post("/administrations/{administration_id}/check", response_model=CheckOutcomeOut)
def remote_check(
    administration_id: str,
    body: CheckDecisionIn,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> CheckOutcomeOut:
    """Confirm or reject as the remote second person (from my own device)."""
    with _unit(session):
        out = service.decide_check(
            session,
            checker=user,
            administration_id=administration_id,
            decision=body.decision,
            seen=body.seen,
            method="remote",
            remark=body.remark,
            source=source,
            now=now,
            policy=policy,
        )
    _publish(request, [out.alert] if out.alert else [])
    return CheckOutcomeOut(administration=out.administration, alert=out.alert)


@router.post(
    "/administrations/{administration_id}/check/same-device", response_model=CheckOutcomeOut
)
def same_device_check(
    administration_id: str,
    body: SameDeviceCheckIn,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
) -> CheckOutcomeOut:
    """Confirm or reject on the same tablet: the second person signs in with a password."""
    with _unit(session):
        checker = authenticate(session, username=body.username, password=body.password)
        out = service.decide_check(
            session,
            checker=checker,
            administration_id=administration_id,
            decision=body.decision,
            seen=body.seen,
            method="same_device",
            remark=body.remark,
            source=f"{source};device-user={user.id}",
            now=now,
            policy=policy,
        )
    _publish(request, [out.alert] if out.alert else [])
    return CheckOutcomeOut(administration=out.administration, alert=out.alert)


@router.get("/clients/{client_id}/changes")
def changes(
    client_id: str, user: CurrentUser, session: SessionDep, source: SourceDep, now: NowDep
) -> dict[str, Any]:
    """The client's current list, its changes, and whether I acknowledged them."""
    with _unit(session):
        return lists.list_changes(session, user=user, client_id=client_id, source=source, now=now)


@router.post("/clients/{client_id}/acknowledge", status_code=201)
def acknowledge(
    client_id: str,
    body: AcknowledgeIn,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
) -> dict[str, str]:
    """Acknowledge the changes of a list version before signing off against it."""
    with _unit(session):
        ack = lists.acknowledge_changes(
            session,
            user=user,
            client_id=client_id,
            version_id=body.version_id,
            source=source,
            now=now,
        )
    return {"id": ack.id, "version_id": ack.version_id}


@router.get("/clients/{client_id}/history", response_model=list[AdministrationView])
def history(
    client_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
) -> list[AdministrationView]:
    """Every record (with corrections and checks) of a client in a period."""
    with _unit(session):
        return service.client_history(
            session,
            user=user,
            client_id=client_id,
            start=start,
            end=end,
            source=source,
            now=now,
            policy=policy,
        )


@router.get("/clients/{client_id}/export")
def export(
    client_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
) -> JSONResponse:
    """Administrations of a period as a FHIR R4 Bundle of MP9 MedicationAdministrations."""
    with _unit(session):
        bundle = fhir_export.export_bundle(
            session, user=user, client_id=client_id, start=start, end=end, source=source, now=now
        )
    return JSONResponse(bundle, media_type=fhir_export.FHIR_JSON)


@router.get("/backup-list", response_class=HTMLResponse)
def backup_list(
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
    day: date | None = None,
) -> HTMLResponse:
    """Printable backup list of the day's rounds for my teams (for downtime)."""
    with _unit(session):
        html = printable.backup_list_html(
            session,
            user=user,
            day=day or now.astimezone(AMSTERDAM).date(),
            source=source,
            now=now,
            policy=policy,
        )
    return HTMLResponse(html)


@router.get("/clients/{client_id}/mar", response_class=HTMLResponse)
def mar(
    client_id: str,
    user: CurrentUser,
    session: SessionDep,
    source: SourceDep,
    now: NowDep,
    policy: PolicyDep,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
) -> HTMLResponse:
    """Printable administration overview (MAR) of a client for a period."""
    with _unit(session):
        html = printable.mar_html(
            session,
            user=user,
            client_id=client_id,
            start=start,
            end=end,
            source=source,
            now=now,
            policy=policy,
        )
    return HTMLResponse(html)
