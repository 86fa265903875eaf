"""The FastAPI application: health, devices and events; other packages' routers are mounted here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from etrs import routes as etrs_routes
from etrs.importers import routes as pharmacy_routes
from hub import audit
from hub.alerts import routes as alert_routes
from hub.alerts import scope as alert_scope
from hub.alerts.etrs_bridge import EtrsAlertSink
from hub.alerts.models import Alert
from hub.auth.deps import CurrentUser, SessionDep, SourceDep, get_session
from hub.auth.models import User
from hub.auth.service import team_ids_of
from hub.devices import service as device_service
from hub.family import routes as family_routes
from hub.ingest.service import IngestService
from hub.logging_setup import RequestIdMiddleware
from hub.metrics import IngestProbe, OpenAlertCounter, install_metrics
from hub.robots import routes as robots_routes
from hub.robots.publisher import Publisher
from hub.rules import routes as care_plan_routes
from hub.store.models import Event, Home
from hub.tasks import routes as task_routes
from hub.web import admin as web_admin
from hub.web import alerts as web_alerts
from hub.web import checks as web_checks
from hub.web import client as web_client
from hub.web import family as web_family
from hub.web import pharmacy as web_pharmacy
from hub.web import robots as web_robots
from hub.web import round as web_round
from hub.web import routes as web_routes
from hub.web.admin import ControlFactory
from hub.web.middleware import csrf_guard
from hub.web.routes import STATIC_DIR
from hub.web.session import cookie_authenticator

API = "/api/v1"


class DeviceOut(BaseModel):
    """A device as the API shows it (never its password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    home_id: str | None
    label: str
    status: str
    last_seen: datetime | None
    battery_pct: int | None
    created_at: datetime


class EventOut(BaseModel):
    """A stored device event."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    device_id: str
    home_id: str | None
    type: str
    ts: datetime
    seq: int
    received_at: datetime
    data: dict[str, object]


def visible_home_ids(session: Session, user: User) -> set[str] | None:
    """Homes a user may see device data of; None means all (administrators)."""
    if user.role == "admin":
        return None
    if user.role not in ("nurse", "team_lead"):
        return set()
    teams = team_ids_of(session, user=user)
    return set(session.scalars(select(Home.id).where(Home.team_id.in_(teams))))


def _alert_actor(user: CurrentUser) -> str:
    """Alert actions are taken by a signed-in user."""
    return f"user:{user.id}"


def open_alert_counts(session: Session) -> dict[str, int]:
    """Open (not yet resolved) alerts by severity, for /metrics."""
    rows = session.execute(
        select(Alert.severity, func.count())
        .where(Alert.status != "resolved")
        .group_by(Alert.severity)
    )
    return {str(sev): int(n) for sev, n in rows}


def create_app(
    sessions: sessionmaker[Session],
    *,
    ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok"),
    device_control: ControlFactory | None = None,
    broker_public: dict[str, object] | None = None,
    ingest: IngestService | None = None,
    open_alerts: OpenAlertCounter | None = None,
    robot_publisher: Publisher | None = None,
) -> FastAPI:
    """Build the app around a session factory and a readiness probe."""
    app = FastAPI(
        title="carehub",
        version="0.1.0",
        description="Event-driven technology hub for Dutch home care.",
    )

    # One session dependency for every router (hub.auth.deps.get_session: a unit of work
    # per request); the web UI's cookie sessions plug into the authenticators.
    app.state.sessionmaker = sessions
    app.state.authenticators = [cookie_authenticator]
    app.middleware("http")(csrf_guard)
    app.add_middleware(RequestIdMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(web_routes.router)
    app.include_router(web_admin.router)
    app.include_router(web_pharmacy.router)
    app.include_router(pharmacy_routes.router)
    app.include_router(etrs_routes.router)
    app.include_router(robots_routes.router)
    app.include_router(family_routes.router)
    app.include_router(web_round.router)
    app.include_router(web_checks.router)
    app.include_router(web_alerts.router)
    app.include_router(web_client.router)
    app.include_router(web_robots.router)
    app.include_router(web_family.router)
    app.include_router(alert_routes.router)
    app.include_router(care_plan_routes.router)
    app.include_router(task_routes.router)
    # The alerts package ships placeholders for its session and actor: ours replace them.
    app.dependency_overrides[alert_routes.get_session] = get_session
    app.dependency_overrides[alert_routes.get_actor] = _alert_actor
    app.dependency_overrides[alert_routes.get_scope] = alert_scope.user_scope
    # Robot schedules go out through the hub's own broker account (None: kept unpublished).
    app.state.robot_publisher = robot_publisher
    # Rejected double checks (eTRS routes and pages) become alerts: hub.alerts.etrs_bridge.
    app.state.etrs_alert_sink = EtrsAlertSink(sessions)
    # Provisioning from the admin pages needs a broker admin connection.
    app.state.device_control = device_control
    app.state.broker_public = broker_public or {"host": "127.0.0.1", "port": 1883}
    if ingest is not None:  # a running hub: Prometheus /metrics
        probe = IngestProbe(ingest)
        install_metrics(app, lambda: probe, sessions, open_alerts=open_alerts or open_alert_counts)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(session: SessionDep) -> JSONResponse:
        """The database answers and the ingest is connected to the broker."""
        try:
            session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "not ready", "reason": f"database: {exc}"}, 503)
        ok, reason = ready()
        return JSONResponse(
            {"status": "ok" if ok else "not ready", "reason": reason}, 200 if ok else 503
        )

    @app.get(f"{API}/devices", response_model=list[DeviceOut], tags=["devices"])
    def list_devices(
        session: SessionDep, user: CurrentUser, source: SourceDep, home_id: str | None = None
    ) -> list[DeviceOut]:
        """Registered devices of the homes of my teams, with status, last seen and battery."""
        homes = visible_home_ids(session, user)
        devices = [
            d
            for d in device_service.list_devices(session, home_id=home_id)
            if homes is None or d.home_id in homes
        ]
        audit.record(
            session,
            actor=user.id,
            action="devices.view",
            object_type="home",
            object_id=home_id or "*",
            source=source,
            detail={"count": len(devices)},
        )
        return [DeviceOut.model_validate(d) for d in devices]

    @app.get(f"{API}/events", response_model=list[EventOut], tags=["events"])
    def list_events(
        session: SessionDep,
        user: CurrentUser,
        source: SourceDep,
        device_id: str | None = None,
        since: Annotated[AwareDatetime | None, Query(description="ts >= since (RFC 3339)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventOut]:
        """Stored events of my teams' homes, oldest first, by device time."""
        stmt = select(Event).order_by(Event.ts, Event.seq).limit(limit)
        homes = visible_home_ids(session, user)
        if homes is not None:
            stmt = stmt.where(Event.home_id.in_(homes))
        if device_id is not None:
            stmt = stmt.where(Event.device_id == device_id)
        if since is not None:
            stmt = stmt.where(Event.ts >= since)
        events = [EventOut.model_validate(e) for e in session.scalars(stmt)]
        audit.record(
            session,
            actor=user.id,
            action="events.view",
            object_type="device",
            object_id=device_id or "*",
            source=source,
            detail={"count": len(events)},
        )
        return events

    @app.exception_handler(device_service.NotFound)
    def _not_found(_r: Request, exc: device_service.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    return app
