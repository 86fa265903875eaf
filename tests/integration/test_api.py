"""HTTP API over a real database: health, readiness, devices and events, with team scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.payloads import Motion, Room
from hub.api.app import create_app
from hub.auth.service import create_user, issue_token
from hub.ingest.store import Inbound, store_batch
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Device, Home, Team


def _seed(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Two teams, a home each, two devices in h1; returns a bearer token per user."""
    now = datetime.now(UTC)
    tokens = {}
    with unit_of_work(sessions) as s:
        for team in ("t1", "t2"):
            s.add(Team(id=team, name=team, kind="day", created_at=now))
        s.flush()
        s.add_all(
            [
                Home(id="h1", name="h1", team_id="t1", created_at=now),
                Home(id="h2", name="h2", team_id="t2", created_at=now),
            ]
        )
        s.flush()
        for dev_id, home in (
            ("mot-aaaa0001", "h1"),
            ("mot-aaaa0002", "h1"),
            ("mot-bbbb0001", "h2"),
        ):
            s.add(
                Device(
                    id=dev_id,
                    kind="motion",
                    home_id=home,
                    label="",
                    status="unknown",
                    password_hash="$argon2id$secret",
                    created_at=now,
                )
            )
        for name, role, teams in (
            ("anna", "nurse", ("t1",)),
            ("otto", "nurse", ("t2",)),
            ("admin", "admin", ()),
            ("fam", "family", ()),
        ):
            user = create_user(
                s, username=name, password="pw", display_name=name, role=role, team_ids=teams
            )
            tokens[name] = issue_token(s, user_id=user.id)
    t0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    msgs = []
    for i in range(5):
        for dev_id in ("mot-aaaa0001", "mot-aaaa0002", "mot-bbbb0001"):
            payload = envelope.encode(
                id=f"{dev_id}-{i:04d}",
                device_id=dev_id,
                ts=t0 + timedelta(minutes=i),
                seq=i,
                type="motion",
                data=Motion(room=Room.TOILET),
            )
            msgs.append(Inbound(topics.event_topic(dev_id, "motion"), payload, now))
    with unit_of_work(sessions) as s:
        store_batch(s, msgs)
    return tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_and_readiness(sessions: sessionmaker[Session]) -> None:
    ready = {"ok": False}
    client = TestClient(create_app(sessions, ready=lambda: (ready["ok"], "ingest")))
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready"
    ready["ok"] = True
    assert client.get("/readyz").status_code == 200


def test_device_data_needs_authentication(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    client = TestClient(create_app(sessions))
    assert client.get("/api/v1/devices").status_code == 401
    assert client.get("/api/v1/events").status_code == 401
    assert client.get("/api/v1/events", headers=_auth("chb_wrong")).status_code == 401


def test_devices_of_my_team_only_and_never_password_hashes(
    sessions: sessionmaker[Session],
) -> None:
    tokens = _seed(sessions)
    client = TestClient(create_app(sessions))
    r = client.get("/api/v1/devices", headers=_auth(tokens["anna"]))
    assert r.status_code == 200
    assert [d["id"] for d in r.json()] == ["mot-aaaa0001", "mot-aaaa0002"]
    assert r.json()[0]["status"] == "online"
    assert "argon2" not in r.text
    r = client.get("/api/v1/devices", headers=_auth(tokens["admin"]))
    assert len(r.json()) == 3
    assert client.get("/api/v1/devices", headers=_auth(tokens["fam"])).json() == []


def test_events_filter_scope_and_access_log(sessions: sessionmaker[Session]) -> None:
    tokens = _seed(sessions)
    client = TestClient(create_app(sessions))
    anna = _auth(tokens["anna"])
    r = client.get(
        "/api/v1/events",
        headers=anna,
        params={"device_id": "mot-aaaa0002", "since": "2026-03-29T02:32:00+02:00", "limit": 2},
    )
    assert r.status_code == 200
    assert [e["id"] for e in r.json()] == ["mot-aaaa0002-0002", "mot-aaaa0002-0003"]
    # Another team's device: nothing, not even its existence.
    r = client.get("/api/v1/events", headers=anna, params={"device_id": "mot-bbbb0001"})
    assert r.json() == []
    assert client.get("/api/v1/events", headers=anna, params={"limit": 0}).status_code == 422
    naive = client.get("/api/v1/events", headers=anna, params={"since": "2026-03-29T02:32:00"})
    assert naive.status_code == 422
    with sessions() as s:
        logged = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "events.view")
        )
    assert logged == 2
    assert "/api/v1/events" in client.get("/openapi.json").json()["paths"]
