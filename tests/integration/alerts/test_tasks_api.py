"""A dispenser's missed dose: an alert and one follow-up task for the team, done once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scoped_world import T_DAY, World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import service as svc
from hub.rules.model import AlertDecision, Rule, Severity
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry
from hub.tasks.models import Task, TaskCompletion


def _missed(client: str, dose: str) -> AlertDecision:
    home = {"ca": "ha", "cb": "hb"}[client]
    return AlertDecision(
        home, client, Rule.MISSED_DOSE, Severity.HIGH, T_DAY, dose, {"scheduled_for": "x"}
    )


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return make_world(sessions)


def test_a_missed_dose_makes_one_task_per_dose(world: World) -> None:
    dose1, dose2 = "d0800@2026-01-14T07:00:00+00:00", "d1800@2026-01-14T17:00:00+00:00"
    with unit_of_work(world.sessions) as s:
        (first,) = svc.apply(s, [_missed("ca", dose1)], now=T_DAY)
        svc.apply(s, [_missed("ca", dose1)], now=T_DAY + timedelta(minutes=1))  # repeat
        svc.apply(s, [_missed("ca", dose2)], now=T_DAY + timedelta(hours=8))  # next dose
    with unit_of_work(world.sessions) as s:
        tasks = s.scalars(select(Task).order_by(Task.id)).all()
        assert [(t.kind, t.client_id, t.team_id, t.source_alert_id) for t in tasks] == [
            ("dose_follow_up", "ca", "team-a", first.alert_id),
            ("dose_follow_up", "ca", "team-a", first.alert_id),
        ]
        assert [t.detail["dose"] for t in tasks] == [dose1, dose2]
        assert svc.get_alert(s, alert_id=first.alert_id).count == 3


def test_tasks_are_team_scoped_and_done_once(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_missed("ca", "d0800@a"), _missed("cb", "d0800@b")], now=T_DAY)
    anna, bert = world.auth("anna"), world.auth("bert")
    mine = world.http.get("/api/v1/tasks", headers=anna).json()
    assert [(t["client_id"], t["kind"], t["status"]) for t in mine] == [
        ("ca", "dose_follow_up", "open")
    ]
    assert [t["client_id"] for t in world.http.get("/api/v1/tasks", headers=bert).json()] == ["cb"]
    assert len(world.http.get("/api/v1/tasks", headers=world.auth("admin")).json()) == 2
    assert world.http.get("/api/v1/tasks", headers=world.auth("fam")).json() == []
    assert world.http.get("/api/v1/tasks").status_code == 401

    task_id = mine[0]["id"]
    assert world.http.post(f"/api/v1/tasks/{task_id}/done", headers=bert).status_code == 404
    assert world.http.post("/api/v1/tasks/99999/done", headers=anna).status_code == 404
    r = world.http.post(
        f"/api/v1/tasks/{task_id}/done", json={"note": "client called, took it"}, headers=anna
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["done_by"]) == ("done", "user:u-anna")
    again = world.http.post(f"/api/v1/tasks/{task_id}/done", headers=world.auth("lead_a"))
    assert again.status_code == 409
    assert world.http.get("/api/v1/tasks", headers=anna).json() == []
    done = world.http.get("/api/v1/tasks", params={"status": "done"}, headers=anna).json()
    assert [(t["id"], t["note"]) for t in done] == [(task_id, "client called, took it")]
    assert world.http.get("/api/v1/tasks", params={"status": "x"}, headers=anna).status_code == 422
    with unit_of_work(world.sessions) as s:
        assert len(s.scalars(select(TaskCompletion)).all()) == 1
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {"task.create", "task.done", "tasks.view"} <= actions
