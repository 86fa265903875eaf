"""The alerts HTTP API and its Server-Sent-Events stream, over a real server and database."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from alerts_helpers import T0, decision, seed
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import routes
from hub.alerts import service as svc
from hub.alerts.broadcast import broadcaster
from hub.alerts.scope import EVERYTHING
from hub.rules.model import Rule
from hub.store.db import unit_of_work


def make_app(sessions: sessionmaker[Session]) -> FastAPI:
    app = FastAPI()
    app.include_router(routes.router)

    def session_dep() -> Iterator[Session]:
        with unit_of_work(sessions) as s:
            yield s

    def actor_dep(request: Request) -> str:
        return request.headers.get("x-test-actor", "user:test")

    app.dependency_overrides[routes.get_session] = session_dep
    app.dependency_overrides[routes.get_actor] = actor_dep
    app.dependency_overrides[routes.get_scope] = lambda: EVERYTHING
    return app


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(sessions) as s:
        seed(s)
        svc.apply(s, [decision(Rule.FALL), decision(Rule.NOT_UP, client="c0002")], now=T0)
    return sessions


def test_list_filter_acknowledge_resolve_snooze(db: sessionmaker[Session]) -> None:
    client = TestClient(make_app(db))
    listed = client.get("/api/v1/alerts", params={"status": "open"}).json()
    assert sorted(a["rule"] for a in listed) == ["fall", "not_up"]
    fall = next(a for a in listed if a["rule"] == "fall")
    assert client.get("/api/v1/alerts", params={"client_id": "c0002"}).json()[0]["rule"] == "not_up"

    r = client.post(
        f"/api/v1/alerts/{fall['id']}/acknowledge", headers={"x-test-actor": "user:anna"}
    )
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["acknowledged_by"]) == ("acknowledged", "user:anna")
    assert client.post(f"/api/v1/alerts/{fall['id']}/acknowledge").status_code == 409

    r = client.post(f"/api/v1/alerts/{fall['id']}/snooze", json={"minutes": 30})
    assert r.status_code == 200
    assert r.json()["snoozed_until"] is not None

    r = client.post(
        f"/api/v1/alerts/{fall['id']}/resolve",
        json={"outcome": "real_incident", "note": "gevallen"},
    )
    assert (r.json()["status"], r.json()["outcome"]) == ("resolved", "real_incident")
    bad = client.post(f"/api/v1/alerts/{fall['id']}/resolve", json={"outcome": "maybe"})
    assert bad.status_code == 422
    extra = client.post(
        f"/api/v1/alerts/{fall['id']}/resolve", json={"outcome": "false_alarm", "x": 1}
    )
    assert extra.status_code == 422
    hist = client.get(f"/api/v1/alerts/{fall['id']}/transitions").json()
    assert [h["action"] for h in hist] == ["raised", "acknowledged", "snoozed", "resolved"]
    assert client.get("/api/v1/alerts/9999").status_code == 404


def test_routes_refuse_without_an_actor(db: sessionmaker[Session]) -> None:
    app = make_app(db)
    del app.dependency_overrides[routes.get_actor]
    assert TestClient(app).get("/api/v1/alerts").status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
def test_committed_alert_reaches_an_sse_client(db: sessionmaker[Session]) -> None:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(make_app(db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        got: list[dict[str, object]] = []
        with (
            httpx.Client(timeout=20) as http,
            http.stream("GET", f"http://127.0.0.1:{port}/api/v1/alerts/stream") as resp,
        ):
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.iter_lines()
            assert next(lines) == ": connected"
            while broadcaster.subscribers() == 0:
                time.sleep(0.01)
            with unit_of_work(db) as s:  # e.g. the ingest's batch transaction
                svc.apply(s, [decision(Rule.NIGHT_EXIT)], now=T0)
            for line in lines:
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    break
        assert got[0]["action"] == "raised"
        assert got[0]["alert"]["rule"] == "night_exit"  # type: ignore[index]
    finally:
        server.should_exit = True
        thread.join(10)
