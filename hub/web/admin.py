"""Admin pages: homes and devices (provisioning shows the device's credentials once)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from devices.kinds import Kind
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import User
from hub.devices import service as devices
from hub.store.models import Home, Team
from hub.web.routes import OptionalUser, login_redirect, render

router = APIRouter(prefix="/admin", include_in_schema=False)

ControlFactory = Callable[[], AbstractContextManager[devices.DeviceControl]]


def admin_user(request: Request, user: OptionalUser) -> User:
    """Administrators only; others see a plain 404 (no hint that the page exists)."""
    if user is None:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if user.role != "admin":
        raise HTTPException(404)
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def _control(request: Request) -> ControlFactory:
    factory: ControlFactory | None = getattr(request.app.state, "device_control", None)
    if factory is None:
        raise HTTPException(503, "device provisioning is not available: no broker admin account")
    return factory


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, user: OptionalUser) -> Response:
    if user is None:
        return login_redirect(request)
    if user.role != "admin":
        raise HTTPException(404)
    return render(request, "admin/index.html", user=user, active="admin")


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return render(
        request,
        "admin/devices.html",
        user=user,
        active="admin",
        devices=devices.list_devices(session, include_revoked=True),
        homes=list(session.scalars(select(Home).order_by(Home.id))),
        kinds=[k.value for k in Kind],
        created=None,
        error=None,
    )


@router.post("/devices", response_class=HTMLResponse)
def provision_device(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    kind: Annotated[str, Form()],
    home_id: Annotated[str, Form()],
    label: Annotated[str, Form()] = "",
) -> Response:
    error = None
    created = None
    try:
        k = Kind(kind)
        with _control(request)() as ctl:
            device, password = devices.provision(
                session,
                control=ctl,
                kind=k,
                home_id=home_id,
                label=label,
                actor=user.id,
                source=request_source(request),
            )
        broker = getattr(request.app.state, "broker_public", {"host": "127.0.0.1", "port": 1883})
        created = {
            "device_id": device.id,
            "kind": device.kind,
            "home_id": device.home_id,
            "mqtt": {**broker, "username": device.id, "password": password, "client_id": device.id},
        }
    except ValueError:
        error = f"onbekend soort apparaat / unknown kind: {kind!r}"
    except devices.NotFound as exc:
        error = str(exc)
    session.commit()  # the device may connect before this response is even read
    return render(
        request,
        "admin/devices.html",
        user=user,
        active="admin",
        status=201 if created else 422,
        devices=devices.list_devices(session, include_revoked=True),
        homes=list(session.scalars(select(Home).order_by(Home.id))),
        kinds=[k.value for k in Kind],
        created=created,
        error=error,
    )


@router.post("/devices/{device_id}/revoke")
def revoke_device(
    request: Request, session: SessionDep, user: AdminUser, device_id: str
) -> Response:
    try:
        with _control(request)() as ctl:
            devices.revoke(
                session,
                control=ctl,
                device_id=device_id,
                actor=user.id,
                source=request_source(request),
            )
    except devices.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()  # before the browser follows the redirect (see hub.web.routes.login)
    return RedirectResponse("/admin/devices", status_code=303)


@router.get("/homes", response_class=HTMLResponse)
def homes_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return render(
        request,
        "admin/homes.html",
        user=user,
        active="admin",
        error=None,
        homes=list(session.scalars(select(Home).order_by(Home.id))),
        teams=list(session.scalars(select(Team).order_by(Team.id))),
    )


@router.post("/homes", response_class=HTMLResponse)
def add_home(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    home_id: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    team_id: Annotated[str, Form()] = "",
) -> Response:
    if session.get(Home, home_id) is not None:
        return render(
            request,
            "admin/homes.html",
            user=user,
            active="admin",
            status=409,
            error=f"woning {home_id} bestaat al / home {home_id} exists already",
            homes=list(session.scalars(select(Home).order_by(Home.id))),
            teams=list(session.scalars(select(Team).order_by(Team.id))),
        )
    devices.add_home(
        session,
        home_id=home_id,
        name=name,
        team_id=team_id or None,
        actor=user.id,
        source=request_source(request),
    )
    session.commit()  # before the browser follows the redirect (see hub.web.routes.login)
    return RedirectResponse("/admin/homes", status_code=303)
