"""HTTP API over a real database: health, readiness, devices and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.payloads import Motion, Room
from hub.api.app import create_app
from hub.ingest.store import Inbound, store_batch
from hub.store.db import unit_of_work
from hub.store.models import Device, Home


def _seed(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(Home(id="h1", name="h1", team_id=None, created_at=now))
        s.flush()
        for dev_id in ("mot-aaaa0001", "mot-aaaa0002"):
            s.add(
                Device(
                    id=dev_id,
                    kind="motion",
                    home_id="h1",
                    label="",
                    status="unknown",
                    password_hash="$argon2id$secret",
                    created_at=now,
                )
            )
    t0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    msgs = []
    for i in range(5):
        for dev_id in ("mot-aaaa0001", "mot-aaaa0002"):
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


def test_health_and_readiness(sessions: sessionmaker[Session]) -> None:
    ready = {"ok": False}
    client = TestClient(create_app(sessions, ready=lambda: (ready["ok"], "ingest")))
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready"
    ready["ok"] = True
    assert client.get("/readyz").status_code == 200


def test_devices_listing_never_shows_password_hashes(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    client = TestClient(create_app(sessions))
    r = client.get("/api/v1/devices", params={"home_id": "h1"})
    assert r.status_code == 200
    body = r.json()
    assert [d["id"] for d in body] == ["mot-aaaa0001", "mot-aaaa0002"]
    assert body[0]["status"] == "online"
    assert "argon2" not in r.text


def test_events_filter_by_device_since_and_limit(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    client = TestClient(create_app(sessions))
    r = client.get(
        "/api/v1/events",
        params={"device_id": "mot-aaaa0002", "since": "2026-03-29T02:32:00+02:00", "limit": 2},
    )
    assert r.status_code == 200
    assert [e["id"] for e in r.json()] == ["mot-aaaa0002-0002", "mot-aaaa0002-0003"]
    assert client.get("/api/v1/events", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/events", params={"since": "2026-03-29T02:32:00"}).status_code == 422
    assert "/api/v1/events" in client.get("/openapi.json").json()["paths"]
