"""Care plans over the real API: team-scoped reads, changes by team leads, field errors."""

from __future__ import annotations

import pytest
from scoped_world import World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.rules.careplan import CarePlan
from hub.rules.service import get_care_plan, save_care_plan
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry

URL = "/api/v1/clients/{}/care-plan"


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return make_world(sessions)


def test_defaults_until_a_team_lead_changes_the_plan(world: World) -> None:
    r = world.http.get(URL.format("ca"), headers=world.auth("anna"))
    assert r.status_code == 200
    body = r.json()
    assert body["updated_at"] is None
    assert body["plan"] == CarePlan().model_dump(mode="json")

    reloaded: list[str] = []
    world.app.state.care_plan_changed = reloaded.append  # the running rules (hub serve)
    plan = CarePlan().model_dump(mode="json")
    plan["rules"]["night_restless"] = True
    plan["wake_deadline_min"] = 120
    r = world.http.put(URL.format("ca"), json=plan, headers=world.auth("lead_a"))
    assert r.status_code == 200, r.text
    assert reloaded == ["ca"]
    assert r.json()["updated_by"] == world.user_ids["lead_a"]

    got = world.http.get(URL.format("ca"), headers=world.auth("anna")).json()
    assert got["plan"]["rules"]["night_restless"] is True
    assert got["plan"]["wake_deadline_min"] == 120
    with unit_of_work(world.sessions) as s:
        assert get_care_plan(s, client_id="ca").wake_deadline_min == 120
        change = s.scalars(select(AuditEntry).where(AuditEntry.action == "care_plan.set")).one()
        assert change.client_id == "ca"
        assert change.detail["changed"] == ["rules.night_restless", "wake_deadline_min"]
        assert change.detail["before"]["wake_deadline_min"] == 90
        views = s.scalars(select(AuditEntry).where(AuditEntry.action == "care_plan.view")).all()
        assert len(views) == 2


def test_other_teams_get_404_and_nurses_may_not_change(world: World) -> None:
    plan = CarePlan().model_dump(mode="json")
    for who in ("bert", "lead_b", "fam", "pharm"):
        assert world.http.get(URL.format("ca"), headers=world.auth(who)).status_code == 404
        r = world.http.put(URL.format("ca"), json=plan, headers=world.auth(who))
        assert r.status_code == 404
    assert world.http.get(URL.format("nobody"), headers=world.auth("admin")).status_code == 404
    r = world.http.put(URL.format("ca"), json=plan, headers=world.auth("anna"))
    assert r.status_code == 403
    r = world.http.put(URL.format("ca"), json=plan, headers=world.auth("admin"))
    assert r.status_code == 200
    assert world.http.get(URL.format("ca")).status_code == 401


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"night_start": "25:00"}, ["body", "night_start"]),
        ({"wake_deadline_min": 5}, ["body", "wake_deadline_min"]),
        ({"rules": {"fall": "sometimes"}}, ["body", "rules", "fall"]),
        ({"rules": {"teleport": True}}, ["body", "rules", "teleport"]),
        ({"wandering_risk": "extreme"}, ["body", "wandering_risk"]),
        ({"unknown_knob": 1}, ["body", "unknown_knob"]),
    ],
)
def test_a_bad_field_is_named_in_the_422(
    world: World, patch: dict[str, object], loc: list[str]
) -> None:
    plan = {**CarePlan().model_dump(mode="json"), **patch}
    r = world.http.put(URL.format("ca"), json=plan, headers=world.auth("lead_a"))
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [loc]
    with unit_of_work(world.sessions) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "care_plan.set")).all() == []


def test_save_care_plan_records_each_change(sessions: sessionmaker[Session]) -> None:
    make_world(sessions)
    with unit_of_work(sessions) as s:
        save_care_plan(s, "ca", CarePlan(dose_grace_min=10), "user:x", "test")
    with unit_of_work(sessions) as s:
        stored = save_care_plan(s, "ca", CarePlan(dose_grace_min=15), "user:y", "test")
        assert stored.updated_by == "user:y"
    with unit_of_work(sessions) as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "care_plan.set").order_by(AuditEntry.at)
        ).all()
        assert [(r.actor, r.detail["changed"]) for r in rows] == [
            ("user:x", ["dose_grace_min"]),
            ("user:y", ["dose_grace_min"]),
        ]
        assert rows[1].detail["before"]["dose_grace_min"] == 10
        assert get_care_plan(s, client_id="ca").dose_grace_min == 15
