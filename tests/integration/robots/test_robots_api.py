"""Robot schedules over HTTP: CRUD, versioned delivery, ack status, access, timeline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from robots_world import FakePublisher, RWorld
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices import topics
from devices.payloads import RobotSchedule
from hub.auth.deps import get_session
from hub.robots import routes, service
from hub.robots.models import RobotStatusChange
from hub.robots.publisher import PublishError
from hub.robots.schedule import at_local, parse_hhmm
from hub.store.models import AuditEntry, DeviceAck, Event

DAY = date(2026, 11, 24)  # a Tuesday
NOW = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # 12:00 Amsterdam


@pytest.fixture
def api(rworld: RWorld) -> tuple[TestClient, FakePublisher]:
    app = FastAPI()
    app.include_router(routes.router)
    pub = FakePublisher()
    app.state.robot_publisher = pub

    def _session() -> Iterator[Session]:
        yield rworld.session

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[routes.get_now] = lambda: NOW
    return TestClient(app), pub


def url(w: RWorld, tail: str = "", client_id: str | None = None) -> str:
    return f"/api/v1/clients/{client_id or w.client.id}/robot{tail}"


MSG = {"text": "Goedemorgen Riet, het is dinsdag.", "at": "08:00", "recurrence": "daily"}
QUESTION = {
    "text": "Heeft u al gegeten?",
    "at": "18:30",
    "recurrence": "daily",
    "question": True,
    "repeat_if_unanswered_min": 15,
}


def ack(w: RWorld, version: int, ok: bool = True, error: str | None = None) -> None:
    w.session.add(
        DeviceAck(
            device_id=w.robot.id,
            command="schedule",
            version=version,
            ok=ok,
            error=error,
            received_at=NOW,
        )
    )
    w.session.flush()


def test_each_change_publishes_the_full_schedule_with_a_new_version(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, pub = api
    h = rworld.auth(rworld.anna)
    r1 = http.post(url(rworld, "/messages"), json=MSG, headers=h)
    assert r1.status_code == 201, r1.text
    assert r1.json()["status"]["state"] == "pending"
    r2 = http.post(url(rworld, "/messages"), json=QUESTION, headers=h)
    mid = r2.json()["message"]["id"]
    assert r2.json()["status"]["version"] == 2
    topic, payload, retain = pub.sent[-1]
    assert topic == topics.command_topic(rworld.robot.id, "schedule")
    assert retain is True
    cmd = RobotSchedule.model_validate_json(payload)  # the device contract accepts it
    assert cmd.version == 2
    assert [m.at for m in cmd.messages] == ["08:00", "18:30"]
    assert cmd.messages[1].question
    assert cmd.messages[1].repeat_if_unanswered_min == 15
    assert cmd.messages[0].weekdays is None
    assert cmd.messages[0].on is None
    changed = http.put(
        url(rworld, f"/messages/{mid}"),
        json=QUESTION | {"recurrence": "weekdays", "weekdays": [2, 5]},
        headers=h,
    )
    assert changed.status_code == 200
    assert RobotSchedule.model_validate_json(pub.sent[-1][1]).messages[1].weekdays == [2, 5]
    deleted = http.delete(url(rworld, f"/messages/{mid}"), headers=h)
    assert deleted.json()["version"] == 4
    final = RobotSchedule.model_validate_json(pub.sent[-1][1])
    assert final.version == 4
    assert len(final.messages) == 1
    assert [json.loads(p)["version"] for _, p, _ in pub.sent] == [1, 2, 3, 4]
    actions = rworld.session.scalars(
        select(AuditEntry.action).where(AuditEntry.client_id == rworld.client.id)
    ).all()
    assert actions.count("robot.message.add") == 2
    assert "robot.message.update" in actions
    assert "robot.message.delete" in actions


def test_schedule_is_pending_until_the_robot_acks_this_version(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    h = rworld.auth(rworld.anna)
    http.post(url(rworld, "/messages"), json=MSG, headers=h)
    http.post(url(rworld, "/messages"), json=QUESTION, headers=h)
    ack(rworld, 1)  # an ack of the old version does not confirm the new one
    st = http.get(url(rworld, "/status"), headers=h).json()
    assert (st["state"], st["acked_version"], st["version"]) == ("pending", 1, 2)
    ack(rworld, 2, ok=False, error="invalid schedule: 1 error(s)")
    st = http.get(url(rworld, "/status"), headers=h).json()
    assert st["state"] == "rejected"
    assert "invalid schedule" in st["error"]
    ack(rworld, 2)
    sched = http.get(url(rworld, "/schedule"), headers=h).json()
    assert sched["status"]["state"] == "confirmed"
    assert len(sched["messages"]) == 2


def test_failed_publish_shows_unpublished_and_can_be_resent(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, pub = api
    h = rworld.auth(rworld.anna)
    pub.fail = PublishError("not connected to the broker")
    r = http.post(url(rworld, "/messages"), json=MSG, headers=h)
    assert r.status_code == 201  # the change is kept
    assert r.json()["status"]["state"] == "unpublished"
    assert "not connected" in r.json()["status"]["error"]
    pub.fail = None
    again = http.post(url(rworld, "/publish"), headers=h)
    assert again.json()["state"] == "pending"
    assert RobotSchedule.model_validate_json(pub.sent[-1][1]).version == 1


def test_client_without_robot_says_so(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, pub = api
    rworld.robot.revoked_at = NOW
    rworld.session.flush()
    r = http.post(url(rworld, "/messages"), json=MSG, headers=rworld.auth(rworld.anna))
    assert r.json()["status"]["state"] == "no_robot"
    assert pub.sent == []


def test_family_with_permission_writes_messages_but_only_changes_their_own(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, pub = api
    nurse_msg = http.post(url(rworld, "/messages"), json=MSG, headers=rworld.auth(rworld.anna))
    fleur = rworld.auth(rworld.fleur)
    own = http.post(
        url(rworld, "/messages"),
        json={
            "text": "Vanmiddag kom ik langs! Fleur",
            "at": "13:00",
            "recurrence": "once",
            "on": "2026-11-24",
        },
        headers=fleur,
    )
    assert own.status_code == 201
    assert own.json()["message"]["created_by_role"] == "family"
    assert RobotSchedule.model_validate_json(pub.sent[-1][1]).messages[1].on == "2026-11-24"
    nid = nurse_msg.json()["message"]["id"]
    assert http.delete(url(rworld, f"/messages/{nid}"), headers=fleur).status_code == 403
    oid = own.json()["message"]["id"]
    assert http.delete(url(rworld, f"/messages/{oid}"), headers=fleur).status_code == 200


@pytest.mark.parametrize("who", ["dirk", "gijs", "henk"])
def test_outsiders_get_404_as_for_a_client_that_does_not_exist(
    rworld: RWorld, api: tuple[TestClient, FakePublisher], who: str
) -> None:
    http, _ = api
    h = rworld.auth(getattr(rworld, who))
    for path in ("/schedule", "/status", "/timeline"):
        assert http.get(url(rworld, path), headers=h).status_code == 404
    assert http.post(url(rworld, "/messages"), json=MSG, headers=h).status_code == 404
    ghost = http.get(url(rworld, "/schedule", client_id="cl-does-not-exist"), headers=h)
    assert ghost.status_code == 404
    assert ghost.json() == {"detail": "client 'cl-does-not-exist' not found"}


def test_fleur_cannot_reach_another_client(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    h = rworld.auth(rworld.fleur)
    other = rworld.other_client.id
    assert http.get(url(rworld, "/schedule", other), headers=h).status_code == 404
    assert http.post(url(rworld, "/messages", other), json=MSG, headers=h).status_code == 404
    assert http.get(url(rworld, "/schedule"), headers=h).status_code == 200


def test_unauthenticated_and_bad_input_are_refused(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    assert http.get(url(rworld, "/schedule")).status_code == 401
    h = rworld.auth(rworld.anna)
    assert http.post(url(rworld, "/messages"), json=MSG | {"x": 1}, headers=h).status_code == 422
    bad = MSG | {"recurrence": "weekdays"}
    assert http.post(url(rworld, "/messages"), json=bad, headers=h).status_code == 422


def _event(w: RWorld, typ: str, ts: datetime, data: dict[str, Any]) -> None:
    w.session.add(
        Event(
            id=str(uuid.uuid4()),
            device_id=w.robot.id,
            home_id=w.home.id,
            type=typ,
            ts=ts,
            seq=0,
            received_at=ts,
            data=data,
        )
    )


def test_timeline_shows_spoken_answered_missed_offline_and_upcoming(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    h = rworld.auth(rworld.anna)
    ids = {}
    for name, at in [
        ("morning", "08:00"),
        ("breakfast", "09:00"),
        ("coffee", "10:00"),
        ("lunch", "11:30"),
        ("dinner", "18:30"),
    ]:
        body = {"text": name, "at": at, "recurrence": "daily", "question": name != "morning"}
        ids[name] = http.post(url(rworld, "/messages"), json=body, headers=h).json()["message"][
            "id"
        ]

    # Written the day before: a moment before a message existed is never expected.
    for m in service.list_messages(rworld.session, client_id=rworld.client.id):
        m.created_at = NOW - timedelta(days=1)
    rworld.session.flush()

    def sched(hhmm: str) -> str:
        return at_local(DAY, parse_hhmm(hhmm)).isoformat()

    t8 = at_local(DAY, parse_hhmm("08:00"))
    base = {"schedule_version": 5}
    _event(
        rworld,
        "message.spoken",
        t8 + timedelta(seconds=5),
        base | {"message_id": ids["morning"], "scheduled_for": sched("08:00"), "text": "x"},
    )
    t9 = at_local(DAY, parse_hhmm("09:00"))
    b9 = base | {"message_id": ids["breakfast"], "scheduled_for": sched("09:00")}
    _event(rworld, "message.spoken", t9, b9 | {"text": "x", "question": True})
    _event(rworld, "question.answered", t9 + timedelta(minutes=2), b9 | {"answer": "no_answer"})
    _event(
        rworld, "message.spoken", t9 + timedelta(minutes=15), b9 | {"text": "x", "question": True}
    )
    _event(rworld, "question.answered", t9 + timedelta(minutes=16), b9 | {"answer": "yes"})
    # the robot went offline at 09:45 and came back at 10:30: coffee at 10:00 was missed
    rworld.session.add_all(
        [
            RobotStatusChange(
                device_id=rworld.robot.id, state="offline", at=at_local(DAY, parse_hhmm("09:45"))
            ),
            RobotStatusChange(
                device_id=rworld.robot.id, state="online", at=at_local(DAY, parse_hhmm("10:30"))
            ),
        ]
    )
    rworld.session.flush()
    body = http.get(url(rworld, "/timeline"), params={"day": DAY.isoformat()}, headers=h).json()
    states = {e["text"]: (e["state"], e["times_spoken"], e["answer"]) for e in body["entries"]}
    assert states == {
        "morning": ("spoken", 1, None),
        "breakfast": ("answered_yes", 2, "yes"),
        "coffee": ("missed: robot offline", 0, None),
        "lunch": ("missed", 0, None),
        "dinner": ("upcoming", 0, None),
    }
    assert [e["text"] for e in body["entries"]][0] == "morning"
    viewed = rworld.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "robot.timeline.view")
    ).all()
    assert [v.actor for v in viewed] == [rworld.anna.id]


def test_republish_sends_only_schedules_the_robot_does_not_have(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    from hub.robots import service

    http, pub = api
    pub.fail = PublishError("broker away")
    http.post(url(rworld, "/messages"), json=MSG, headers=rworld.auth(rworld.anna))
    pub.fail = None
    assert service.republish_unpublished(rworld.session, publisher=pub, now=NOW) == 1
    assert service.schedule_status(rworld.session, client_id=rworld.client.id).state == "pending"
    assert service.republish_unpublished(rworld.session, publisher=pub, now=NOW) == 0
    assert len(pub.sent) == 1


def test_offline_robot_without_history_marks_past_moments_missed_offline(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    h = rworld.auth(rworld.anna)
    http.post(url(rworld, "/messages"), json=MSG, headers=h)  # 08:00 daily
    for m in service.list_messages(rworld.session, client_id=rworld.client.id):
        m.created_at = NOW - timedelta(days=1)  # written the day before
    rworld.robot.status = "offline"
    rworld.robot.last_seen = at_local(DAY, parse_hhmm("07:00"))
    rworld.session.flush()
    body = http.get(url(rworld, "/timeline"), params={"day": DAY.isoformat()}, headers=h).json()
    assert [e["state"] for e in body["entries"]] == ["missed: robot offline"]
    rworld.robot.last_seen = at_local(DAY, parse_hhmm("09:00"))  # seen after the moment
    rworld.session.flush()
    body = http.get(url(rworld, "/timeline"), params={"day": DAY.isoformat()}, headers=h).json()
    assert [e["state"] for e in body["entries"]] == ["missed"]
    st = http.get(url(rworld, "/status"), headers=h).json()
    assert st["robot_status"] == "offline"


def test_a_new_message_is_not_missed_at_moments_before_it_was_written(
    rworld: RWorld, api: tuple[TestClient, FakePublisher]
) -> None:
    http, _ = api
    h = rworld.auth(rworld.anna)
    body = {"text": "koffie", "at": "10:00", "recurrence": "daily"}
    assert http.post(url(rworld, "/messages"), json=body, headers=h).status_code == 201
    # Written at 12:00: nothing was due at 10:00 today or yesterday; tomorrow it is.
    for day in (DAY - timedelta(days=1), DAY):
        got = http.get(url(rworld, "/timeline"), params={"day": day.isoformat()}, headers=h)
        assert got.json()["entries"] == []
    later = http.get(
        url(rworld, "/timeline"), params={"day": (DAY + timedelta(days=1)).isoformat()}, headers=h
    )
    assert [e["state"] for e in later.json()["entries"]] == ["upcoming"]
