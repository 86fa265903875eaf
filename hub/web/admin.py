"""Admin pages: homes, devices (provisioning shows the credentials once), clients, teams,
users and care plans. Every change is audit-logged; so is every list of client data.

Administrators manage everything; a team lead may open the clients of their own teams
and change those clients' care plans (as the care-plan API allows).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args, get_origin

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.kinds import Kind
from etrs.bsn import is_valid_bsn
from hub import audit
from hub.auth.deps import SessionDep, request_source
from hub.auth.models import ROLES, ApiToken, Pharmacy, TeamMember, User
from hub.auth.service import can_access_client, create_user, visible_client_ids
from hub.devices import service as devices
from hub.rules.careplan import AnswerRule, CarePlan, RuleSwitches
from hub.rules.service import get_stored_care_plan, save_care_plan
from hub.store.models import Client, Home, Team
from hub.web.i18n import lang_of, translator
from hub.web.routes import OptionalUser, login_redirect, render

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
MIN_PASSWORD = 12

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
    if user.role not in ("admin", "team_lead"):
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


# --- clients, teams, users, care plans ------------------------------------------------------


def plan_editor(request: Request, user: OptionalUser) -> User:
    """Administrators and team leads (scoped to their teams' clients per page)."""
    if user is None:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if user.role not in ("admin", "team_lead"):
        raise HTTPException(404)
    return user


PlanEditor = Annotated[User, Depends(plan_editor)]


def _t(request: Request) -> Callable[[str], str]:
    return translator(lang_of(request))


def masked_bsn(bsn: str | None) -> str:
    """Only the last three digits on screen: enough to tell clients apart at the desk."""
    return "—" if not bsn else "•" * (len(bsn) - 3) + bsn[-3:]


def _clients_page(
    request: Request,
    session: Session,
    user: User,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    visible = visible_client_ids(session, user)
    clients = list(
        session.scalars(select(Client).where(Client.id.in_(visible)).order_by(Client.id))
    )
    audit.record(
        session,
        actor=user.id,
        action="clients.view",
        object_type="client",
        object_id="*",
        source=request_source(request),
        detail={"clients": [c.id for c in clients]},
    )
    return render(
        request,
        "admin/clients.html",
        user=user,
        active="admin",
        status=status,
        error=error,
        form=form or {},
        clients=clients,
        masked_bsn=masked_bsn,
        homes=list(session.scalars(select(Home).order_by(Home.id))),
        teams=list(session.scalars(select(Team).order_by(Team.id))),
        saved=request.query_params.get("saved"),
    )


@router.get("/clients", response_class=HTMLResponse)
def clients_page(request: Request, session: SessionDep, user: PlanEditor) -> Response:
    return _clients_page(request, session, user)


@router.post("/clients", response_class=HTMLResponse)
def add_client(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    client_id: Annotated[str, Form(pattern=ID_PATTERN)],
    display_name: Annotated[str, Form(min_length=1, max_length=200)],
    bsn: Annotated[str, Form(max_length=20)] = "",
    home_id: Annotated[str, Form(max_length=64)] = "",
    team_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    t = _t(request)
    bsn = bsn.replace(" ", "").replace(".", "").replace("-", "")
    form = {"client_id": client_id, "display_name": display_name, "home_id": home_id}
    form["team_id"] = team_id
    error = None
    if bsn and not is_valid_bsn(bsn):
        error = t("admin.bsn.invalid")
    elif bsn and session.scalar(select(Client.id).where(Client.bsn == bsn)) is not None:
        error = t("admin.bsn.taken")
    elif session.get(Client, client_id) is not None:
        error = f"{t('admin.exists')} {client_id}"
    elif (home_id and session.get(Home, home_id) is None) or (
        team_id and session.get(Team, team_id) is None
    ):
        raise HTTPException(422, "unknown home or team")
    if error is not None:
        form["bsn"] = bsn
        return _clients_page(request, session, user, error=error, form=form, status=422)
    session.add(
        Client(
            id=client_id,
            display_name=display_name.strip(),
            bsn=bsn or None,
            home_id=home_id or None,
            team_id=team_id or None,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="client.create",
        object_type="client",
        object_id=client_id,
        source=request_source(request),
        client_id=client_id,
        detail={"home_id": home_id or None, "team_id": team_id or None, "bsn": bool(bsn)},
    )
    session.commit()  # before the browser follows the redirect (see hub.web.routes.login)
    return RedirectResponse(f"/admin/clients?saved={client_id}", status_code=303)


@router.post("/clients/{client_id}/team")
def assign_team(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    client_id: str,
    team_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    client = session.get(Client, client_id)
    if client is None or (team_id and session.get(Team, team_id) is None):
        raise HTTPException(404)
    before = client.team_id
    client.team_id = team_id or None
    audit.record(
        session,
        actor=user.id,
        action="client.team",
        object_type="client",
        object_id=client_id,
        source=request_source(request),
        client_id=client_id,
        detail={"from": before, "to": client.team_id},
    )
    session.commit()  # before the browser follows the redirect
    return RedirectResponse(f"/admin/clients?saved={client_id}", status_code=303)


# teams


def _teams_page(
    request: Request, session: Session, user: User, *, error: str | None = None, status: int = 200
) -> Response:
    teams = list(session.scalars(select(Team).order_by(Team.id)))
    members: dict[str, int] = {tm.id: 0 for tm in teams}
    for team_id in session.scalars(select(TeamMember.team_id)):
        members[team_id] = members.get(team_id, 0) + 1
    return render(
        request,
        "admin/teams.html",
        user=user,
        active="admin",
        status=status,
        error=error,
        teams=teams,
        members=members,
    )


@router.get("/teams", response_class=HTMLResponse)
def teams_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _teams_page(request, session, user)


@router.post("/teams", response_class=HTMLResponse)
def add_team(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    team_id: Annotated[str, Form(pattern=ID_PATTERN)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    kind: Annotated[Literal["day", "night"], Form()] = "day",
) -> Response:
    if session.get(Team, team_id) is not None:
        return _teams_page(
            request, session, user, error=f"{_t(request)('admin.exists')} {team_id}", status=409
        )
    session.add(Team(id=team_id, name=name.strip(), kind=kind, created_at=datetime.now(UTC)))
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="team.create",
        object_type="team",
        object_id=team_id,
        source=request_source(request),
        detail={"name": name.strip(), "kind": kind},
    )
    session.commit()  # before the browser follows the redirect
    return RedirectResponse("/admin/teams", status_code=303)


# users


def _users_page(
    request: Request,
    session: Session,
    user: User,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    users = list(session.scalars(select(User).order_by(User.username)))
    teams_of: dict[str, list[str]] = {}
    for m in session.scalars(select(TeamMember)):
        teams_of.setdefault(m.user_id, []).append(m.team_id)
    return render(
        request,
        "admin/users.html",
        user=user,
        active="admin",
        status=status,
        error=error,
        form=form or {},
        users=users,
        teams_of=teams_of,
        roles=ROLES,
        teams=list(session.scalars(select(Team).order_by(Team.id))),
        pharmacies=list(session.scalars(select(Pharmacy).order_by(Pharmacy.id))),
        saved=request.query_params.get("saved"),
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    return _users_page(request, session, user)


def _check_profile(
    session: Session,
    t: Callable[[str], str],
    *,
    role: str,
    teams: tuple[str, ...],
    pharmacy_id: str,
) -> str | None:
    """Role, teams and pharmacy as create and edit accept them (a refusal, or None)."""
    if role not in ROLES:
        raise HTTPException(422, "unknown role")
    if any(session.get(Team, tid) is None for tid in teams):
        raise HTTPException(422, "unknown team")
    if role == "pharmacist" and (not pharmacy_id or session.get(Pharmacy, pharmacy_id) is None):
        return t("admin.pharmacy.needed")
    return None


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    username: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")],
    display_name: Annotated[str, Form(min_length=1, max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=16)],
    team_id: Annotated[list[str] | None, Form()] = None,
    qualification_level: Annotated[int, Form(ge=0, le=2)] = 0,
    pharmacy_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    t = _t(request)
    teams = tuple(tid for tid in (team_id or []) if tid)
    form = {"username": username, "display_name": display_name, "role": role}
    form.update(pharmacy_id=pharmacy_id, level=str(qualification_level), teams=",".join(teams))
    refused = _check_profile(session, t, role=role, teams=teams, pharmacy_id=pharmacy_id)
    error = None
    if len(password) < MIN_PASSWORD:
        error = t("admin.password.short")
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        error = f"{t('admin.exists')} {username}"
    else:
        error = refused
    if error is not None:
        return _users_page(request, session, user, error=error, form=form, status=422)
    created = create_user(  # the password is hashed with argon2id there, never stored
        session,
        username=username,
        password=password,
        display_name=display_name.strip(),
        role=role,
        qualification_level=qualification_level,
        team_ids=teams,
        pharmacy_id=pharmacy_id if role == "pharmacist" else None,
    )
    audit.record(
        session,
        actor=user.id,
        action="user.create",
        object_type="user",
        object_id=created.id,
        source=request_source(request),
        detail={
            "username": username,
            "role": role,
            "teams": list(teams),
            "qualification_level": qualification_level,
        },
    )
    session.commit()  # before the browser follows the redirect
    return RedirectResponse(f"/admin/users?saved={username}", status_code=303)


def _target(session: Session, user_id: str) -> User:
    target = session.get(User, user_id)
    if target is None:
        raise HTTPException(404)
    return target


def _teams_of(session: Session, user_id: str) -> list[str]:
    return sorted(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def _profile(session: Session, target: User) -> dict[str, object]:
    """What the edit form changes, as the audit log keeps it (before and after)."""
    return {
        "display_name": target.display_name,
        "role": target.role,
        "teams": _teams_of(session, target.id),
        "qualification_level": target.qualification_level,
        "pharmacy_id": target.pharmacy_id,
    }


def _user_page(
    request: Request,
    session: Session,
    user: User,
    target: User,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    teams = _teams_of(session, target.id)
    current = {
        "display_name": target.display_name,
        "role": target.role,
        "level": str(target.qualification_level),
        "teams": ",".join(teams),
        "pharmacy_id": target.pharmacy_id or "",
    }
    return render(
        request,
        "admin/user.html",
        user=user,
        active="admin",
        status=status,
        error=error,
        target=target,
        form=form or current,
        roles=ROLES,
        teams=list(session.scalars(select(Team).order_by(Team.id))),
        pharmacies=list(session.scalars(select(Pharmacy).order_by(Pharmacy.id))),
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, session: SessionDep, user: AdminUser, user_id: str) -> Response:
    return _user_page(request, session, user, _target(session, user_id))


@router.post("/users/{user_id}", response_class=HTMLResponse)
def edit_user(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    user_id: str,
    display_name: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[str, Form(max_length=16)],
    team_id: Annotated[list[str] | None, Form()] = None,
    qualification_level: Annotated[int, Form(ge=0, le=2)] = 0,
    pharmacy_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Name, role, teams, double-check level (and pharmacy); never the username or password."""
    target = _target(session, user_id)
    t = _t(request)
    teams = tuple(sorted({tid for tid in (team_id or []) if tid}))
    form = {"display_name": display_name, "role": role, "pharmacy_id": pharmacy_id}
    form.update(level=str(qualification_level), teams=",".join(teams))
    error = _check_profile(session, t, role=role, teams=teams, pharmacy_id=pharmacy_id)
    if target.id == user.id and role != "admin":
        error = t("admin.self")  # an admin who demotes herself locks herself out
    if error is not None:
        return _user_page(request, session, user, target, error=error, form=form, status=422)
    before = _profile(session, target)
    existing = set(_teams_of(session, target.id))
    target.display_name = display_name.strip()
    target.role = role
    target.qualification_level = qualification_level
    target.pharmacy_id = pharmacy_id if role == "pharmacist" else None
    for member in session.scalars(select(TeamMember).where(TeamMember.user_id == target.id)):
        if member.team_id not in teams:
            session.delete(member)
    for tid in set(teams) - existing:
        session.add(TeamMember(user_id=target.id, team_id=tid))
    session.flush()
    after = _profile(session, target)
    audit.record(
        session,
        actor=user.id,
        action="user.update",
        object_type="user",
        object_id=target.id,
        source=request_source(request),
        detail={
            "username": target.username,
            "from": {k: v for k, v in before.items() if after[k] != v},
            "to": {k: v for k, v in after.items() if before[k] != v},
        },
    )
    session.commit()  # before the browser follows the redirect
    return RedirectResponse(f"/admin/users?saved={target.username}", status_code=303)


@router.post("/users/{user_id}/active", response_class=HTMLResponse)
def set_active(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    user_id: str,
    active: Annotated[Literal["0", "1"], Form()],
) -> Response:
    """Deactivate (no login; her sessions and API tokens revoked at once) or reactivate.

    A reactivated user logs in again: revoked tokens stay revoked.
    """
    target = _target(session, user_id)
    if target.id == user.id:
        return _users_page(request, session, user, error=_t(request)("admin.self"), status=409)
    now = datetime.now(UTC)
    revoked = 0
    if active == "0":
        tokens = session.scalars(
            select(ApiToken).where(ApiToken.user_id == target.id, ApiToken.revoked_at.is_(None))
        )
        for token in tokens:
            token.revoked_at = now
            revoked += 1
    was = target.active
    target.active = active == "1"
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="user.reactivate" if target.active else "user.deactivate",
        object_type="user",
        object_id=target.id,
        source=request_source(request),
        detail={"username": target.username, "was_active": was, "tokens_revoked": revoked},
        at=now,
    )
    session.commit()  # before the browser follows the redirect
    return RedirectResponse(f"/admin/users?saved={target.username}", status_code=303)


# care plans


@dataclass(frozen=True, slots=True)
class PlanField:
    """One care-plan parameter as a form input."""

    name: str
    kind: Literal["time", "int", "float", "choice"]
    value: object
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


def plan_fields(plan: CarePlan) -> list[PlanField]:
    """The care plan's simple parameters (numbers, clock times, choices), read from the model.

    The rule switches and the robot-answer settings have their own parts of the form.
    """
    out: list[PlanField] = []
    for name, info in CarePlan.model_fields.items():
        lo = hi = None
        for m in info.metadata:
            lo = getattr(m, "ge", lo)
            hi = getattr(m, "le", hi)
        value = getattr(plan, name)
        desc = info.description or ""
        if info.annotation is int:
            out.append(PlanField(name, "int", value, desc, lo, hi))
        elif info.annotation is float:
            out.append(PlanField(name, "float", value, desc, lo, hi))
        elif get_origin(info.annotation) is Literal:
            out.append(PlanField(name, "choice", value, desc, choices=get_args(info.annotation)))
        elif info.annotation is str:
            out.append(PlanField(name, "time", value, desc))
    return out


ANSWER_SUPPORTS = get_args(AnswerRule.model_fields["supports"].annotation)


def _answer_rows(form: Any) -> list[dict[str, object]]:
    """Robot-answer settings from the form: rows with an empty question are dropped."""
    rows: list[dict[str, object]] = []
    i = 0
    while f"ans_question_{i}" in form:
        question = str(form.get(f"ans_question_{i}", "")).strip()
        if question:
            rows.append(
                {
                    "question": question,
                    "supports": str(form.get(f"ans_supports_{i}", "")),
                    "on_no": form.get(f"ans_on_no_{i}") == "on",
                    "on_no_answer": form.get(f"ans_on_no_answer_{i}") == "on",
                }
            )
        i += 1
    return rows


def _plan_client(session: Session, user: User, client_id: str) -> Client:
    if not can_access_client(session, user, client_id):
        raise HTTPException(404)  # same answer for "no such client" and "not yours"
    client = session.get(Client, client_id)
    if client is None:
        raise HTTPException(404)
    return client


def _plan_page(
    request: Request,
    session: Session,
    user: User,
    client: Client,
    *,
    plan: CarePlan | None = None,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    answers: list[Any] | None = None,
    status: int = 200,
) -> Response:
    stored = get_stored_care_plan(session, client_id=client.id)
    shown = plan or stored.plan
    audit.record(
        session,
        actor=user.id,
        action="care_plan.view",
        object_type="care_plan",
        object_id=client.id,
        source=request_source(request),
        client_id=client.id,
    )
    fields = plan_fields(shown)
    if values:  # a refused form shows what was typed, not the stored plan
        fields = [
            PlanField(
                f.name,
                f.kind,
                values.get(f.name, f.value),
                f.description,
                f.minimum,
                f.maximum,
                f.choices,
            )
            for f in fields
        ]
    return render(
        request,
        "admin/careplan.html",
        user=user,
        active="admin",
        status=status,
        client=client,
        stored=stored,
        switches=[(name, getattr(shown.rules, name)) for name in RuleSwitches.model_fields],
        fields=fields,
        answers=answers if answers is not None else list(shown.answer_settings),
        answer_supports=ANSWER_SUPPORTS,
        errors=errors or {},
        saved=request.query_params.get("saved"),
    )


@router.get("/clients/{client_id}/care-plan", response_class=HTMLResponse)
def care_plan_page(
    request: Request, session: SessionDep, user: PlanEditor, client_id: str
) -> Response:
    return _plan_page(request, session, user, _plan_client(session, user, client_id))


@router.post("/clients/{client_id}/care-plan", response_class=HTMLResponse)
async def save_plan(
    request: Request, session: SessionDep, user: PlanEditor, client_id: str
) -> Response:
    client = _plan_client(session, user, client_id)
    form = await request.form()
    values: dict[str, object] = {
        f.name: str(form.get(f.name, "")).strip() for f in plan_fields(CarePlan())
    }
    raw: dict[str, object] = {k: v for k, v in values.items() if v != ""}
    raw["rules"] = {name: form.get(f"rule_{name}") == "on" for name in RuleSwitches.model_fields}
    answers = _answer_rows(form)
    raw["answer_settings"] = answers
    try:
        plan = CarePlan.model_validate(raw)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():
            name = str(e["loc"][0])
            if name == "answer_settings" and len(e["loc"]) > 1:
                name = f"answer_settings.{e['loc'][1]}"
            errors.setdefault(name, e["msg"])
        switches = raw["rules"]
        assert isinstance(switches, dict)
        shown = CarePlan(rules=RuleSwitches(**switches))
        return _plan_page(
            request,
            session,
            user,
            client,
            plan=shown,
            values=values,
            errors=errors,
            answers=answers,
            status=422,
        )
    save_care_plan(session, client.id, plan, user.id, request_source(request))
    session.commit()  # before the rule engine reloads and the browser follows the redirect
    reload: Callable[[str], None] | None = getattr(request.app.state, "care_plan_changed", None)
    if reload is not None:
        reload(client.id)
    return RedirectResponse(f"/admin/clients/{client.id}/care-plan?saved=1", status_code=303)
