"""The eTRS REST API end to end on a test app (session and clock overridden as the hub would)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from etrs_world import PASSWORD, World, item
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from etrs.routes import get_now, router
from hub.auth.deps import get_session
from hub.auth.service import issue_token

NOW = datetime(2026, 3, 21, 7, 5, tzinfo=UTC)


@pytest.fixture
def api(world: World) -> tuple[TestClient, list[Any]]:
    app = FastAPI()
    app.include_router(router)
    alerts: list[Any] = []
    app.state.etrs_alert_sink = alerts.extend

    def _session() -> Iterator[Session]:
        yield world.session

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_now] = lambda: NOW
    return TestClient(app), alerts


def _auth(world: World, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(world.session, user_id=user.id)}"}


def test_sign_off_flow_over_http(world: World, api: tuple[TestClient, list[Any]]) -> None:
    client, _ = api
    world.store([item("a", "Metoprolol 50mg")])
    anna = _auth(world, world.anna)
    assert client.get("/api/v1/etrs/moments").status_code == 401
    moments = client.get("/api/v1/etrs/moments", headers=anna).json()
    assert [m["medication_name"] for m in moments] == ["Metoprolol 50mg"]
    body = {"client_id": world.client.id, "moment_key": moments[0]["key"], "outcome": "given"}
    refused = client.post("/api/v1/etrs/sign-off", json=body, headers=anna)
    assert refused.status_code == 409
    assert "acknowledge the changes" in refused.json()["detail"]
    changes = client.get(f"/api/v1/etrs/clients/{world.client.id}/changes", headers=anna).json()
    assert [a["name"] for a in changes["changes"]["added"]] == ["Metoprolol 50mg"]
    ack = client.post(
        f"/api/v1/etrs/clients/{world.client.id}/acknowledge",
        json={"version_id": changes["version_id"]},
        headers=anna,
    )
    assert ack.status_code == 201
    signed = client.post("/api/v1/etrs/sign-off", json=body, headers=anna)
    assert signed.status_code == 201
    assert signed.json()["status"] == "given"
    assert (
        client.post("/api/v1/etrs/sign-off", json=body | {"extra": 1}, headers=anna).status_code
        == 422
    )
    history = client.get(
        f"/api/v1/etrs/clients/{world.client.id}/history",
        params={"start": "2026-03-21T00:00:00+01:00", "end": "2026-03-22T00:00:00+01:00"},
        headers=anna,
    )
    assert [h["outcome"] for h in history.json()] == ["given"]
    export = client.get(
        f"/api/v1/etrs/clients/{world.client.id}/export",
        params={"start": "2026-03-21T00:00:00+01:00", "end": "2026-03-22T00:00:00+01:00"},
        headers=anna,
    )
    assert export.headers["content-type"].startswith("application/fhir+json")
    assert export.json()["resourceType"] == "Bundle"


def test_other_team_gets_404_not_403(world: World, api: tuple[TestClient, list[Any]]) -> None:
    client, _ = api
    world.store([item("a", "Metoprolol 50mg")])
    dirk = _auth(world, world.dirk)
    for path in ("changes", "history?start=2026-03-21T00:00:00Z&end=2026-03-22T00:00:00Z"):
        assert (
            client.get(f"/api/v1/etrs/clients/{world.client.id}/{path}", headers=dirk).status_code
            == 404
        )
    assert (
        client.get(
            "/api/v1/etrs/moments", params={"client_id": world.client.id}, headers=dirk
        ).status_code
        == 404
    )
    assert client.get("/api/v1/etrs/moments", headers=dirk).json() == []


def test_four_eyes_over_http_remote_and_same_device(
    world: World, api: tuple[TestClient, list[Any]]
) -> None:
    client, alerts = api
    stored = world.store(
        [
            item("i", "Insuline aspart", atc="A10AB05", unit="E", dose="8", in_gds=False),
            item("m", "Morfine 10mg", atc="N02AA01", in_gds=False),
        ]
    )
    for u in (world.anna, world.bram):
        world.ack(u, stored.version.id)
    anna, bram = _auth(world, world.anna), _auth(world, world.bram)
    moments = {
        m["medication_name"]: m for m in client.get("/api/v1/etrs/moments", headers=anna).json()
    }
    recs = {}
    for name, m in moments.items():
        r = client.post(
            "/api/v1/etrs/sign-off",
            headers=anna,
            json={"client_id": world.client.id, "moment_key": m["key"], "outcome": "given"},
        )
        assert r.json()["status"] == "awaiting_check"
        recs[name] = r.json()

    ins = recs["Insuline aspart"]
    seen = {
        "client_id": world.client.id,
        "medication_key": ins["medication_key"],
        "amount": "8",
        "moment_key": ins["moment_key"],
    }
    assert (
        client.post(
            f"/api/v1/etrs/administrations/{ins['id']}/check-requests", json={}, headers=anna
        ).status_code
        == 201
    )
    inbox = client.get("/api/v1/etrs/checks/inbox", headers=bram).json()
    assert [r["administration"]["id"] for r in inbox] == [ins["id"]]
    own = client.post(
        f"/api/v1/etrs/administrations/{ins['id']}/check",
        json={"decision": "confirm", "seen": seen},
        headers=anna,
    )
    assert own.status_code == 409
    done = client.post(
        f"/api/v1/etrs/administrations/{ins['id']}/check",
        json={"decision": "confirm", "seen": seen},
        headers=bram,
    )
    assert done.json()["administration"]["status"] == "given"

    mor = recs["Morfine 10mg"]
    same = {
        "decision": "reject",
        "remark": "verkeerde sterkte",
        "username": world.bram.username,
        "seen": {
            "client_id": world.client.id,
            "medication_key": mor["medication_key"],
            "amount": "1",
            "moment_key": mor["moment_key"],
        },
    }
    bad = client.post(
        f"/api/v1/etrs/administrations/{mor['id']}/check/same-device",
        json=same | {"password": "wrong"},
        headers=anna,
    )
    assert bad.status_code == 401
    rejected = client.post(
        f"/api/v1/etrs/administrations/{mor['id']}/check/same-device",
        json=same | {"password": PASSWORD},
        headers=anna,
    )
    assert rejected.json()["administration"]["status"] == "check_rejected"
    assert [a.kind for a in alerts] == ["etrs.check_rejected"]


def test_printable_backup_list_and_mar(world: World, api: tuple[TestClient, list[Any]]) -> None:
    client, _ = api
    stored = world.store(
        [
            item("a", "Metoprolol 50mg", instructions="<b>na het eten</b>"),
            item("i", "Insuline aspart", atc="A10AB05", unit="E", dose="8", in_gds=False),
        ]
    )
    world.ack(world.anna, stored.version.id)
    anna = _auth(world, world.anna)
    page = client.get("/api/v1/etrs/backup-list", headers=anna)
    assert page.headers["content-type"].startswith("text/html")
    assert "Metoprolol 50mg" in page.text
    assert "Mevr. T. Testpersoon" in page.text
    assert "&lt;b&gt;na het eten&lt;/b&gt;" in page.text  # escaped, not markup
    assert page.text.count(">vereist<") == 1  # only the insulin needs a double check
    moments = client.get("/api/v1/etrs/moments", headers=anna).json()
    metoprolol = next(m for m in moments if m["medication_name"] == "Metoprolol 50mg")
    client.post(
        "/api/v1/etrs/sign-off",
        headers=anna,
        json={
            "client_id": world.client.id,
            "moment_key": metoprolol["key"],
            "outcome": "not_given",
            "reason_code": "406149000",
        },
    )
    mar = client.get(
        f"/api/v1/etrs/clients/{world.client.id}/mar",
        headers=anna,
        params={"start": "2026-03-21T00:00:00+01:00", "end": "2026-03-22T00:00:00+01:00"},
    )
    assert "refused by client" in mar.text
    assert "not_given" in mar.text
    dirk = _auth(world, world.dirk)
    assert (
        client.get(
            f"/api/v1/etrs/clients/{world.client.id}/mar",
            headers=dirk,
            params={"start": "2026-03-21T00:00:00+01:00", "end": "2026-03-22T00:00:00+01:00"},
        ).status_code
        == 404
    )
    assert "Mevr. T. Testpersoon" not in client.get("/api/v1/etrs/backup-list", headers=dirk).text
