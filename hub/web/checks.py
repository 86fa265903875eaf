"""The double-check inbox: remote check requests for me, confirmed or rejected from my device."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from etrs import service
from etrs.models import Administration, CheckRequest, DoubleCheck
from etrs.routes import NowDep, PolicyDep
from etrs.service import SignOffRefused
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.auth.service import NotFoundError, visible_client_ids
from hub.store.models import Client
from hub.web.i18n import lang_of, translator
from hub.web.round import (
    FORMATS,
    CareUser,
    administration_view,
    facts_of,
    publish_alert,
    refusal_text,
    see_other,
)
from hub.web.routes import render

router = APIRouter(include_in_schema=False)


def _inbox_page(
    request: Request,
    session: Session,
    *,
    user: User,
    now: NowDep,
    policy: PolicyDep,
    error: str | None = None,
    error_id: str | None = None,
    status: int = 200,
) -> Response:
    requests = service.check_inbox(
        session, user=user, source=request_source(request), now=now, policy=policy
    )
    names: dict[str, str] = {}
    for r in requests:
        cid = r.administration.client_id
        if cid not in names:
            client = session.get(Client, cid)
            names[cid] = client.display_name if client else cid
        for uid in (r.requested_by,):
            if uid not in names:
                requester = session.get(User, uid)
                names[uid] = requester.display_name if requester else uid
    return render(
        request,
        "checks/inbox.html",
        user=user,
        **FORMATS,
        active="checks",
        requests=requests,
        names=names,
        error=error,
        error_id=error_id,
        status=status,
    )


@router.get("/checks", response_class=HTMLResponse)
def inbox(
    request: Request, session: SessionDep, user: CareUser, now: NowDep, policy: PolicyDep
) -> Response:
    return _inbox_page(request, session, user=user, now=now, policy=policy)


@router.get("/checks/count")
def inbox_count(
    session: SessionDep, user: CareUser, now: NowDep, policy: PolicyDep
) -> dict[str, list[str]]:
    """Administrations awaiting my remote check, for the page's poll (it reloads when they change).

    Only ids, no client data, so the poll (every few seconds per open inbox) is not
    access-logged; the inbox page it reloads is. Same filter as the inbox.
    """
    if user.role not in policy.checker_roles or user.qualification_level < policy.checker_min_level:
        return {"ids": []}
    clients = visible_client_ids(session, user)
    if not clients:
        return {"ids": []}
    checked = select(DoubleCheck.administration_id)
    corrected = select(Administration.corrects_id).where(Administration.corrects_id.is_not(None))
    ids = session.scalars(
        select(Administration.id)
        .join(CheckRequest, CheckRequest.administration_id == Administration.id)
        .where(
            CheckRequest.client_id.in_(clients),
            Administration.recorded_by != user.id,
            Administration.recorded_at >= now - policy.check_window,
            CheckRequest.requested_at >= now - policy.check_window,
            or_(CheckRequest.to_user_id.is_(None), CheckRequest.to_user_id == user.id),
            Administration.id.not_in(checked),
            Administration.id.not_in(corrected),
        )
        .distinct()
    )
    return {"ids": sorted(ids)}


@router.post("/checks/{administration_id}", response_class=HTMLResponse)
def decide(
    administration_id: str,
    request: Request,
    session: SessionDep,
    user: CareUser,
    now: NowDep,
    policy: PolicyDep,
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
            out = service.decide_check(
                session,
                checker=user,
                administration_id=administration_id,
                decision=decision,
                seen=facts_of(view),
                method="remote",
                remark=(remark or "").strip() or None,
                source=source,
                now=now,
                policy=policy,
            )
            publish_alert(request, out.alert)
        except NotFoundError as exc:
            raise HTTPException(404) from exc
        except SignOffRefused as exc:
            error = refusal_text(request, exc)
    if error is not None:
        return _inbox_page(
            request,
            session,
            user=user,
            now=now,
            policy=policy,
            error=error,
            error_id=administration_id,
            status=409,
        )
    return see_other(session, f"/checks?done={decision}")
