"""The double-check inbox: remote check requests for me, confirmed or rejected from my device."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from etrs import service
from etrs.models import Administration, CheckRequest, DoubleCheck
from etrs.routes import NowDep, PolicyDep
from hub.auth.deps import SessionDep
from hub.auth.models import User
from hub.auth.service import NotFoundError, visible_client_ids
from hub.store.models import Client
from hub.web.round import FORMATS, Care, CareDep, CareUser, administration_view, decide, see_other
from hub.web.routes import render

router = APIRouter(include_in_schema=False)


def _inbox_page(
    c: Care, *, error: str | None = None, error_id: str | None = None, status: int = 200
) -> Response:
    requests = service.check_inbox(
        c.session, user=c.user, source=c.source, now=c.now, policy=c.policy
    )
    names: dict[str, str] = {}
    for r in requests:
        cid = r.administration.client_id
        if cid not in names:
            client = c.session.get(Client, cid)
            names[cid] = client.display_name if client else cid
        for uid in (r.requested_by,):
            if uid not in names:
                requester = c.session.get(User, uid)
                names[uid] = requester.display_name if requester else uid
    return render(
        c.request,
        "checks/inbox.html",
        user=c.user,
        **FORMATS,
        active="checks",
        requests=requests,
        names=names,
        error=error,
        error_id=error_id,
        status=status,
    )


@router.get("/checks", response_class=HTMLResponse)
def inbox(c: CareDep) -> Response:
    return _inbox_page(c)


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
def decide_remote(
    administration_id: str,
    c: CareDep,
    decision: Annotated[Literal["confirm", "reject"], Form()],
    verified: Annotated[str | None, Form()] = None,
    remark: Annotated[str | None, Form()] = None,
) -> Response:
    view = administration_view(c, administration_id)
    try:
        error = decide(
            c,
            view,
            checker=lambda: c.user,
            method="remote",
            decision=decision,
            verified=verified,
            remark=remark,
            source=c.source,
        )
    except NotFoundError as exc:
        raise HTTPException(404) from exc
    if error is not None:
        return _inbox_page(c, error=error, error_id=administration_id, status=409)
    return see_other(c.session, f"/checks?done={decision}")
