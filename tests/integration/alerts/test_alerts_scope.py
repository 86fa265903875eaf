"""Team scoping of the alerts API and its SSE stream, through the real app and server."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from scoped_world import T_DAY, World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import service as svc
from hub.alerts.broadcast import broadcaster
from hub.rules.localtime import local
from hub.rules.model import AlertDecision, Rule, Severity
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry


def _decision(client: str, rule: Rule = Rule.FALL) -> AlertDecision:
    home = {"ca": "ha", "cb": "hb"}[client]
    return AlertDecision(home, client, rule, Severity.HIGH, T_DAY, None, {})


def _routing_with_night_now(night: bool) -> svc.Routing:
    """A night window that contains (or excludes) the wall clock of this test run."""
    now = local(datetime.now(UTC))
    if night:
        start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    else:
        start, end = now + timedelta(hours=1), now + timedelta(hours=2)
    return svc.Routing(night_start=start.strftime("%H:%M"), night_end=end.strftime("%H:%M"))


def _listed(world: World, who: str, **params: str) -> list[tuple[str, str]]:
    r = world.http.get("/api/v1/alerts", params=params, headers=world.auth(who))
    assert r.status_code == 200, r.text
    return sorted((a["client_id"], a["rule"]) for a in r.json())


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    w = make_world(sessions)
    w.app.state.alert_routing = _routing_with_night_now(False)
    return w


def test_a_nurse_lists_only_her_teams_alerts(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_decision("ca"), _decision("cb", Rule.NOT_UP)], now=T_DAY)
    assert _listed(world, "anna") == [("ca", "fall")]
    assert _listed(world, "bert") == [("cb", "not_up")]
    assert _listed(world, "bert", client_id="ca") == []
    assert _listed(world, "bert", team_id="team-a") == []
    assert _listed(world, "admin") == [("ca", "fall"), ("cb", "not_up")]
    for who in ("fam", "pharm", "nina"):  # nina: night team, but it is day now
        assert _listed(world, who) == []
    with unit_of_work(world.sessions) as s:
        views = s.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.view")).all()
        assert {(v.actor, v.client_id) for v in views} >= {("user:u-anna", "ca")}


def test_another_teams_alert_is_404_for_reading_and_acting(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        (change,) = svc.apply(s, [_decision("ca")], now=T_DAY)
    url = f"/api/v1/alerts/{change.alert_id}"
    bert = world.auth("bert")
    assert world.http.get(url, headers=bert).status_code == 404
    assert world.http.get(f"{url}/transitions", headers=bert).status_code == 404
    assert world.http.post(f"{url}/acknowledge", headers=bert).status_code == 404
    assert world.http.post(f"{url}/snooze", json={"minutes": 15}, headers=bert).status_code == 404
    r = world.http.post(f"{url}/resolve", json={"outcome": "false_alarm"}, headers=bert)
    assert r.status_code == 404
    assert world.http.get("/api/v1/alerts/999999", headers=bert).status_code == 404
    r = world.http.post(f"{url}/acknowledge", headers=world.auth("anna"))
    assert (r.status_code, r.json()["acknowledged_by"]) == (200, "user:u-anna")


def test_the_night_team_sees_alerts_routed_to_it_during_the_night(world: World) -> None:
    night = _routing_with_night_now(True)
    with unit_of_work(world.sessions) as s:
        (change,) = svc.apply(s, [_decision("ca")], now=datetime.now(UTC), routing=night)
    with unit_of_work(world.sessions) as s:
        assert svc.get_alert(s, alert_id=change.alert_id).team_id == "night"
    world.app.state.alert_routing = night
    assert _listed(world, "nina") == [("ca", "fall")]
    assert _listed(world, "anna") == [("ca", "fall")]  # her own client, night or not
    assert _listed(world, "bert") == []
    # By day the night team no longer sees it, even before the hand-over re-routes it.
    world.app.state.alert_routing = _routing_with_night_now(False)
    assert _listed(world, "nina") == []
    assert (
        world.http.get(f"/api/v1/alerts/{change.alert_id}", headers=world.auth("nina")).status_code
        == 404
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
def test_the_stream_sends_a_nurse_only_her_teams_alert_changes(world: World) -> None:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        before = broadcaster.subscribers()
        with (
            httpx.Client(timeout=20) as http,
            http.stream(
                "GET", f"http://127.0.0.1:{port}/api/v1/alerts/stream", headers=world.auth("bert")
            ) as resp,
        ):
            assert resp.status_code == 200
            lines = resp.iter_lines()
            assert next(lines) == ": connected"
            while broadcaster.subscribers() == before:
                time.sleep(0.01)
            with unit_of_work(world.sessions) as s:  # team A's client first, then team B's
                svc.apply(s, [_decision("ca")], now=T_DAY)
            with unit_of_work(world.sessions) as s:
                svc.apply(s, [_decision("cb", Rule.NOT_UP)], now=T_DAY)
            got: list[dict[str, object]] = []
            for line in lines:
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    break
        # Changes are delivered in order: had A's been sent, it would have come first.
        assert [(g["alert"]["client_id"], g["action"]) for g in got] == [("cb", "raised")]  # type: ignore[index]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts/stream").status_code == 401
    finally:
        server.should_exit = True
        thread.join(10)
