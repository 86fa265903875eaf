"""The FastAPI application: health, devices and events; other packages' routers are mounted here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.devices import service as device_service
from hub.store.models import Event

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


def get_session(request: Request) -> Iterator[Session]:
    """A session per request from the app's session factory (routers depend on this)."""
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def create_app(
    sessions: sessionmaker[Session],
    *,
    ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok"),
) -> FastAPI:
    """Build the app around a session factory and a readiness probe."""
    app = FastAPI(
        title="carehub",
        version="0.1.0",
        description="Event-driven technology hub for Dutch home care.",
    )

    app.state.sessions = sessions

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
    def list_devices(session: SessionDep, home_id: str | None = None) -> list[DeviceOut]:
        """Registered devices with their status, last seen and battery."""
        return [
            DeviceOut.model_validate(d)
            for d in device_service.list_devices(session, home_id=home_id)
        ]

    @app.get(f"{API}/events", response_model=list[EventOut], tags=["events"])
    def list_events(
        session: SessionDep,
        device_id: str | None = None,
        since: Annotated[AwareDatetime | None, Query(description="ts >= since (RFC 3339)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventOut]:
        """Stored events, oldest first, by device time."""
        stmt = select(Event).order_by(Event.ts, Event.seq).limit(limit)
        if device_id is not None:
            stmt = stmt.where(Event.device_id == device_id)
        if since is not None:
            stmt = stmt.where(Event.ts >= since)
        return [EventOut.model_validate(e) for e in session.scalars(stmt)]

    @app.exception_handler(device_service.NotFound)
    def _not_found(_r: Request, exc: device_service.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    return app
