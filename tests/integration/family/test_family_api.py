"""Family (mantelzorger) API: day overview, notifications, links; nothing outside their scope."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from robots_world import RWorld
from sqlalchemy import select
from sqlalchemy.orm import Session

import etrs.routes
from hub.auth.deps import get_session
from hub.family import routes as family_routes
from hub.family import service as family
from hub.robots import routes as robot_routes
from hub.robots import service as robots
from hub.robots.schedule import Recurrence, at_local, parse_hhmm
from hub.robots.schemas import MessageIn
from hub.store.models import AuditEntry, Device, Event

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)  # 22:30 Amsterdam: the day is over


class Api:
    def __init__(self, w: RWorld) -> None:
        self.app = FastAPI()
        for r in (robot_routes.router, family_routes.router, etrs.routes.router):
            self.app.include_router(r)
        self.now = NOW

        def _session() -> Any:
            yield w.session

        self.app.dependency_overrides[get_session] = _session
        for mod in (robot_routes, family_routes, etrs.routes):
            self.app.dependency_overrides[mod.get_now] = lambda: self.now
        self.http = TestClient(self.app)
        self.w = w

    def get(self, path: str, user: Any, **params: Any) -> Any:
        return self.http.get(path, headers=self.w.auth(user), params=params)


@pytest.fixture
def api(rworld: RWorld) -> Api:
    return Api(rworld)


def local(hhmm: str, day: date = DAY) -> datetime:
    return at_local(day, parse_hhmm(hhmm))


def event(w: RWorld, typ: str, ts: datetime, data: dict[str, Any], device: Device) -> None:
    w.session.add(
        Event(
            id=str(uuid.uuid4()),
            device_id=device.id,
            home_id=w.home.id,
            type=typ,
            ts=ts,
            seq=0,
            received_at=ts,
            data=data,
        )
    )


def sensors(w: RWorld) -> tuple[Device, Device]:
    pir = Device(
        id=f"mot-{w.tag}",
        kind="motion",
        home_id=w.home.id,
        label="",
        status="online",
        password_hash="x",
        created_at=NOW,
    )
    disp = Device(
        id=f"dis-{w.tag}",
        kind="dispenser",
        home_id=w.home.id,
        label="",
        status="online",
        password_hash="x",
        created_at=NOW,
    )
    w.session.add_all([pir, disp])
    w.session.flush()
    return pir, disp


def overview_path(client_id: str) -> str:
    return f"/api/v1/family/clients/{client_id}/overview"


def test_overview_shows_hourly_rhythm_without_medication_events(rworld: RWorld, api: Api) -> None:
    pir, disp = sensors(rworld)
    for hhmm, n in [("07:10", 3), ("07:50", 1), ("12:05", 2), ("22:15", 1)]:
        for i in range(n):
            event(rworld, "motion", local(hhmm) + timedelta(seconds=i), {"room": "kitchen"}, pir)
    event(rworld, "dose.taken", local("08:05"), {"dose_id": "d1"}, disp)
    rworld.session.flush()
    body = api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat()).json()
    counts = {datetime.fromisoformat(h["start"]).hour: h["count"] for h in body["hours"]}
    assert len(body["hours"]) == 24
    assert counts[7] == 4
    assert counts[8] == 0  # the dispenser's dose event is medication data: not rhythm
    assert counts[12] == 2
    assert counts[22] == 1
    assert sum(counts.values()) == 7
    assert body["light"] == "normal"
    assert body["client_name"] == rworld.client.display_name
    assert "dose" not in str(body)


def test_dst_day_has_23_hours_in_the_rhythm(rworld: RWorld, api: Api) -> None:
    spring = date(2026, 3, 29)
    api.now = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
    body = api.get(overview_path(rworld.client.id), rworld.gijs, day=spring.isoformat()).json()
    hours = [datetime.fromisoformat(h["start"]).hour for h in body["hours"]]
    assert len(hours) == 23
    assert 2 not in hours


def test_unanswered_morning_questions_make_the_day_unusual_and_robot_view_needs_permission(
    rworld: RWorld, api: Api
) -> None:
    pir, _ = sensors(rworld)
    event(rworld, "motion", local("14:00"), {"room": "living_room"}, pir)
    for text, at in [("Goedemorgen, bent u al op?", "08:00"), ("Heeft u ontbeten?", "09:00")]:
        robots.add_message(
            rworld.session,
            user=rworld.anna,
            client_id=rworld.client.id,
            data=MessageIn(text=text, at=at, recurrence=Recurrence.DAILY, question=True),
            source="test",
            now=NOW - timedelta(days=2),
        )
    for m in robots.list_messages(rworld.session, client_id=rworld.client.id):
        sched = local(m.at)
        base = {"message_id": m.id, "schedule_version": 2, "scheduled_for": sched.isoformat()}
        event(
            rworld, "message.spoken", sched, base | {"text": m.text, "question": True}, rworld.robot
        )
        event(
            rworld,
            "question.answered",
            sched + timedelta(minutes=2),
            base | {"answer": "no_answer"},
            rworld.robot,
        )
    rworld.session.flush()
    fleur = api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat()).json()
    assert fleur["light"] == "unusual"
    assert "morning questions were not answered" in fleur["reasons"]
    assert fleur["robot"]["unanswered"] == 2
    assert [e["state"] for e in fleur["robot"]["entries"]] == ["no_answer", "no_answer"]
    gijs = api.get(overview_path(rworld.client.id), rworld.gijs, day=DAY.isoformat()).json()
    assert gijs["light"] == "unusual"
    assert gijs["robot"] is None  # the client did not allow him robot messages


def test_alerts_colour_the_day_but_medication_alerts_stay_invisible(
    rworld: RWorld, api: Api
) -> None:
    pir, _ = sensors(rworld)
    event(rworld, "motion", local("10:00"), {"room": "kitchen"}, pir)
    rworld.session.flush()
    raised: list[str] = ["missed_dose"]
    api.app.state.family_alert_source = lambda _s, _c, _a, _b: list(raised)
    body = api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat()).json()
    assert (body["light"], body["reasons"]) == ("normal", [])
    raised.append("not_up")
    body = api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat()).json()
    assert body["light"] == "alert"
    assert body["reasons"] == ["did not get up at the usual time"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/family/clients/{other}/overview",
        "/api/v1/clients/{other}/robot/schedule",
        "/api/v1/clients/{other}/robot/timeline",
        "/api/v1/clients/{other}/family",
        "/api/v1/etrs/clients/{client}/history",
        "/api/v1/etrs/clients/{client}/changes",
        "/api/v1/etrs/clients/{client}/mar",
        "/api/v1/etrs/clients/{other}/history",
    ],
)
def test_family_get_404_for_other_clients_medication_and_team_data(
    rworld: RWorld, api: Api, path: str
) -> None:
    p = path.format(client=rworld.client.id, other=rworld.other_client.id)
    params = {"start": "2026-11-24T00:00:00+01:00", "end": "2026-11-25T00:00:00+01:00"}
    r = api.get(p, rworld.fleur, **params)
    assert r.status_code == 404, r.text
    assert rworld.other_client.display_name not in r.text


def test_family_see_only_their_links_and_unlinked_family_nothing(rworld: RWorld, api: Api) -> None:
    mine = api.get("/api/v1/family/clients", rworld.fleur).json()
    assert [(m["client_id"], m["robot_messages"]) for m in mine] == [(rworld.client.id, True)]
    assert api.get("/api/v1/family/clients", rworld.henk).json() == []
    assert api.get(overview_path(rworld.client.id), rworld.henk).status_code == 404
    # a nurse is not family: the family view is not hers (she has the team views)
    assert api.get(overview_path(rworld.client.id), rworld.anna).status_code == 404


def test_team_links_and_unlinks_family_with_audit(rworld: RWorld, api: Api) -> None:
    path = f"/api/v1/clients/{rworld.client.id}/family"
    body = {"user_id": rworld.henk.id, "relation": "buurman", "notify": ["not_up"]}
    h = rworld.auth(rworld.anna)
    assert api.http.put(path, json=body, headers=rworld.auth(rworld.dirk)).status_code == 404
    assert api.http.put(path, json=body, headers=rworld.auth(rworld.fleur)).status_code == 404
    bad = body | {"user_id": rworld.dirk.id}
    assert api.http.put(path, json=bad, headers=h).status_code == 422
    assert api.http.put(path, json=body | {"notify": ["missed_dose"]}, headers=h).status_code == 422
    r = api.http.put(path, json=body, headers=h)
    assert r.status_code == 200
    assert r.json()["notify"] == ["not_up"]
    assert api.get(overview_path(rworld.client.id), rworld.henk).status_code == 200
    listed = api.get(path, rworld.anna).json()
    assert sorted(x["user_id"] for x in listed) == sorted(
        [rworld.fleur.id, rworld.gijs.id, rworld.henk.id]
    )
    assert api.http.delete(f"{path}/{rworld.henk.id}", headers=h).status_code == 204
    assert api.get(overview_path(rworld.client.id), rworld.henk).status_code == 404
    actions = rworld.session.scalars(
        select(AuditEntry.action).where(AuditEntry.client_id == rworld.client.id)
    ).all()
    assert {"family.link.set", "family.link.remove", "family.overview.view"} <= set(actions)


def test_every_family_view_is_access_logged(rworld: RWorld, api: Api) -> None:
    api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat())
    api.get("/api/v1/family/notifications", rworld.fleur)
    entries = rworld.session.scalars(
        select(AuditEntry).where(AuditEntry.actor == rworld.fleur.id).order_by(AuditEntry.id)
    ).all()
    assert [(e.action, e.client_id) for e in entries] == [
        ("family.overview.view", rworld.client.id),
        ("family.notifications.view", None),
    ]
    assert entries[0].object_id == f"{rworld.client.id}:{DAY.isoformat()}"


def test_notifications_are_chosen_daytime_deduplicated_and_never_medication(
    rworld: RWorld, api: Api, rsession: Session
) -> None:
    night = local("23:10")
    c = rworld.client.id
    assert (
        family.notify_alert(
            rsession, client_id=c, rule="missed_dose", alert_id="a0", at=local("10:00"), now=NOW
        )
        == 0
    )
    assert (
        family.notify_alert(
            rsession, client_id=c, rule="not_up", alert_id="a1", at=local("09:40"), now=NOW
        )
        == 1
    )  # fleur chose it, gijs did not
    assert (
        family.notify_alert(
            rsession, client_id=c, rule="not_up", alert_id="a1", at=local("09:40"), now=NOW
        )
        == 0
    )  # the same alert again
    assert (
        family.notify_alert(
            rsession, client_id=c, rule="fall", alert_id="a2", at=local("11:00"), now=NOW
        )
        == 0
    )  # nobody chose falls
    assert (
        family.notify_alert(rsession, client_id=c, rule="not_up", alert_id="a3", at=night, now=NOW)
        == 1
    )
    api.now = local("07:00", DAY + timedelta(days=1))
    listed = api.get("/api/v1/family/notifications", rworld.fleur).json()
    assert [n["occurred_at"] for n in listed] == [local("09:40").isoformat().replace("+00:00", "Z")]
    api.now = local("08:00", DAY + timedelta(days=1))
    listed = api.get("/api/v1/family/notifications", rworld.fleur).json()
    assert len(listed) == 2
    assert listed[0]["deliver_after"].startswith("2026-11-25T07:00:00")
    assert api.get("/api/v1/family/notifications", rworld.gijs).json() == []


def test_overview_reads_real_alerts_and_ignores_false_alarms(rworld: RWorld, api: Api) -> None:
    from hub.alerts.models import Alert

    pir, _ = sensors(rworld)
    event(rworld, "motion", local("10:00"), {"room": "kitchen"}, pir)

    def alert(rule: str, hhmm: str, outcome: str | None, client_id: str) -> Alert:
        at = local(hhmm)
        return Alert(
            client_id=client_id,
            home_id=None,
            rule=rule,
            severity="high",
            status="resolved" if outcome else "open",
            detail={},
            count=1,
            first_raised_at=at,
            last_raised_at=at,
            created_at=at,
            updated_at=at,
            outcome=outcome,
        )

    rworld.session.add_all(
        [
            alert("fall", "11:00", "false_alarm", rworld.client.id),
            alert("night_exit", "02:00", None, rworld.other_client.id),
            alert("not_up", "09:30", None, rworld.client.id),
        ]
    )
    rworld.session.flush()
    body = api.get(overview_path(rworld.client.id), rworld.fleur, day=DAY.isoformat()).json()
    assert (body["light"], body["reasons"]) == ("alert", ["did not get up at the usual time"])
    yesterday = (DAY - timedelta(days=1)).isoformat()
    assert (
        api.get(overview_path(rworld.client.id), rworld.fleur, day=yesterday).json()["light"]
        == "unusual"
    )  # nothing alerted, but no activity was seen in the home all day
