"""Team robot pages and family pages over HTTP: scoping, publishing, access log, no medication."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import RobotSchedule
from hub.api.app import create_app
from hub.auth.service import create_user
from hub.family.models import FamilyLink
from hub.robots.models import ScheduledMessage
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Device, DeviceAck, Event
from tests.integration.test_web_round import (
    BASE,
    PASSWORD,
    NurseWorld,
    seed_world,
)


class FakePublisher:
    """Records what would go to the robot."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.sent.append((topic, payload, retain))


@dataclass
class FamilyWorld:
    """The nurse world plus a robot in the client's home and three family accounts."""

    w: NurseWorld
    robot_id: str
    fleur: str  # daughter: overview + robot messages
    gijs: str  # son: overview only
    henk: str  # family of nobody
    ids: dict[str, str]  # username -> user id


def seed_family_world(
    sessions: sessionmaker[Session], *, robot_id: str | None = None, robot_status: str = "online"
) -> FamilyWorld:
    """Add a robot and family members to a fresh nurse world (committed)."""
    w = seed_world(sessions)
    now = datetime.now(UTC)
    rid = robot_id or f"rob-{w.tag}"
    with unit_of_work(sessions) as s:
        robot = s.get(Device, rid)
        if robot is None:
            s.add(
                Device(
                    id=rid,
                    kind="robot",
                    home_id=f"home-{w.tag}",
                    label="Robot",
                    status=robot_status,
                    password_hash="x",
                    created_at=now,
                )
            )
        else:
            robot.home_id = f"home-{w.tag}"
        names = {}
        for name in ("fleur", "gijs", "henk"):
            names[name] = create_user(
                s,
                username=f"{name}-{w.tag}",
                password=PASSWORD,
                display_name=f"{name.title()} (familie)",
                role="family",
            ).id
        for name, robot_ok in (("fleur", True), ("gijs", False)):
            s.add(
                FamilyLink(
                    user_id=names[name],
                    client_id=w.client_id,
                    relation="dochter" if name == "fleur" else "zoon",
                    day_overview=True,
                    robot_messages=robot_ok,
                    notify=["not_up"],
                    granted_by=w.anna,
                    created_at=now,
                )
            )
    ids = {f"{name}-{w.tag}": uid for name, uid in names.items()}
    return FamilyWorld(w, rid, f"fleur-{w.tag}", f"gijs-{w.tag}", f"henk-{w.tag}", ids)


def _browser(
    sessions: sessionmaker[Session], username: str, publisher: FakePublisher
) -> TestClient:
    app = create_app(sessions, robot_publisher=publisher)
    c = TestClient(app, base_url=BASE)
    r = c.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return c


def _post(c: TestClient, path: str, data: Mapping[str, object]) -> httpx.Response:
    r: httpx.Response = c.post(path, data=data, headers={"origin": BASE}, follow_redirects=False)
    return r


def _actions(sessions: sessionmaker[Session], client_id: str) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.client_id == client_id)
                .order_by(AuditEntry.id)
            )
        )


def _ack(sessions: sessionmaker[Session], robot_id: str, version: int) -> None:
    with unit_of_work(sessions) as s:
        s.add(
            DeviceAck(
                device_id=robot_id,
                command="schedule",
                version=version,
                ok=True,
                received_at=datetime.now(UTC),
            )
        )


MESSAGE = {
    "text": "Goedemorgen Riet, om 10 uur komt de wijkverpleging.",
    "at": "08:30",
    "recurrence": "weekdays",
    "weekdays": ["1", "3", "5"],
}


def test_team_adds_edits_and_removes_messages_each_change_publishes_a_new_version(
    sessions: sessionmaker[Session],
) -> None:
    fw = seed_family_world(sessions)
    pub = FakePublisher()
    anna = _browser(sessions, fw.w.anna, pub)
    base = f"/clients/{fw.w.client_id}/robot"
    page = anna.get(base)
    assert page.status_code == 200
    assert "Dagstructuurrobot" in page.text
    r = _post(anna, base + "/messages", MESSAGE)
    assert r.status_code == 303
    assert len(pub.sent) == 1
    topic, payload, retain = pub.sent[0]
    assert topic == f"carehub/v1/dev/{fw.robot_id}/cmd/schedule"
    assert retain
    sched = RobotSchedule.model_validate_json(payload)
    assert sched.version == 1
    assert sched.messages[0].weekdays == [1, 3, 5]
    page = anna.get(base)
    assert 'data-state="pending"' in page.text
    assert "Wacht op bevestiging" in page.text
    assert "Goedemorgen Riet" in page.text
    _ack(sessions, fw.robot_id, 1)
    page = anna.get(base)
    assert 'data-state="confirmed"' in page.text
    mid = re.findall(r'data-id="([^"]+)"', page.text)[0]
    question = {
        "text": "Heeft u al gegeten?",
        "at": "12:30",
        "recurrence": "daily",
        "question": "1",
        "repeat_min": "15",
    }
    assert _post(anna, f"{base}/messages/{mid}", question).status_code == 303
    sched = RobotSchedule.model_validate_json(pub.sent[-1][1])
    assert sched.version == 2
    assert sched.messages[0].question
    assert sched.messages[0].repeat_if_unanswered_min == 15
    assert 'data-state="pending"' in anna.get(base).text
    assert _post(anna, f"{base}/messages/{mid}/delete", {}).status_code == 303
    assert RobotSchedule.model_validate_json(pub.sent[-1][1]).messages == []
    actions = _actions(sessions, fw.w.client_id)
    for action in ("web.robot.view", "robot.message.add", "robot.message.update"):
        assert action in actions
    assert "robot.message.delete" in actions


def test_invalid_message_is_refused_with_the_reason_and_nothing_is_sent(
    sessions: sessionmaker[Session],
) -> None:
    fw = seed_family_world(sessions)
    pub = FakePublisher()
    anna = _browser(sessions, fw.w.anna, pub)
    base = f"/clients/{fw.w.client_id}/robot"
    r = _post(anna, base + "/messages", MESSAGE | {"weekdays": []})
    assert r.status_code == 422
    assert "Niet opgeslagen" in r.text
    assert "weekday" in r.text
    r = _post(anna, base + "/messages", {"text": "x", "at": "", "recurrence": "once"})
    assert r.status_code == 422
    assert pub.sent == []
    with sessions() as s:
        assert (
            s.scalars(
                select(ScheduledMessage).where(ScheduledMessage.client_id == fw.w.client_id)
            ).all()
            == []
        )


def test_offline_robot_is_shown_and_other_teams_get_404(sessions: sessionmaker[Session]) -> None:
    fw = seed_family_world(sessions, robot_status="offline")
    pub = FakePublisher()
    anna = _browser(sessions, fw.w.anna, pub)
    page = anna.get(f"/clients/{fw.w.client_id}/robot")
    assert "niet verbonden" in page.text
    dirk = _browser(sessions, fw.w.dirk, pub)
    assert dirk.get(f"/clients/{fw.w.client_id}/robot").status_code == 404
    r = _post(dirk, f"/clients/{fw.w.client_id}/robot/messages", MESSAGE)
    assert r.status_code == 404
    assert pub.sent == []


def test_family_login_lands_on_family_pages_and_nurse_pages_are_404(
    sessions: sessionmaker[Session],
) -> None:
    fw = seed_family_world(sessions)
    pub = FakePublisher()
    fleur = _browser(sessions, fw.fleur, pub)
    home = fleur.get("/", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"] == "/family"
    page = fleur.get("/family")
    assert page.status_code == 200
    assert "Mevr. T. Testpersoon" in page.text
    assert "Voorbeeld" not in page.text  # the other client
    day = fleur.get(f"/family/{fw.w.client_id}")
    assert day.status_code == 200
    assert day.text.count('class="day-light"') == 14
    for secret in ("Metoprolol", "Insuline", "Paracetamol", fw.w.bsn, "Medicatie"):
        assert secret not in day.text
    for path in (
        f"/family/{fw.w.other_client_id}",
        f"/clients/{fw.w.client_id}",
        f"/clients/{fw.w.client_id}/robot",
        "/round",
        "/checks",
    ):
        assert fleur.get(path, follow_redirects=False).status_code == 404, path
    actions = _actions(sessions, fw.w.client_id)
    assert "family.overview.view" in actions
    assert "family.lights.view" in actions
    henk = _browser(sessions, fw.henk, pub)
    assert henk.get(f"/family/{fw.w.client_id}").status_code == 404
    anna = _browser(sessions, fw.w.anna, pub)
    assert anna.get("/family", follow_redirects=False).status_code == 404


def test_family_rhythm_has_no_dispenser_events(sessions: sessionmaker[Session]) -> None:
    fw = seed_family_world(sessions)
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        s.add(
            Event(
                id=f"dose-{fw.w.tag}",
                device_id=f"pir-{fw.w.tag}",
                home_id=f"home-{fw.w.tag}",
                type="dose.taken",
                ts=now - timedelta(minutes=5),
                seq=999,
                received_at=now,
                data={"dose_id": "d0800", "scheduled_for": now.isoformat()},
            )
        )
    fleur = _browser(sessions, fw.fleur, FakePublisher())
    day = fleur.get(f"/family/{fw.w.client_id}")
    assert "dosis" not in day.text
    assert "Dispenser" not in day.text
    assert "Slaapkamer" in day.text  # the bedroom motion an hour ago is in the rhythm


def test_family_manages_own_robot_messages_only_when_allowed(
    sessions: sessionmaker[Session],
) -> None:
    fw = seed_family_world(sessions)
    pub = FakePublisher()
    anna = _browser(sessions, fw.w.anna, pub)
    _post(anna, f"/clients/{fw.w.client_id}/robot/messages", MESSAGE)
    fleur = _browser(sessions, fw.fleur, pub)
    base = f"/family/{fw.w.client_id}/robot"
    r = _post(fleur, base + "/messages", {"text": "Dag mam!", "at": "19:00", "recurrence": "daily"})
    assert r.status_code == 303
    assert len(pub.sent) == 2
    page = fleur.get(f"/family/{fw.w.client_id}")
    assert "Dag mam!" in page.text
    assert "Goedemorgen Riet" in page.text
    with sessions() as s:
        by_role = {
            m.created_by_role: m.id
            for m in s.scalars(
                select(ScheduledMessage).where(ScheduledMessage.client_id == fw.w.client_id)
            )
        }
    # The team's message is shown but not hers to change.
    assert _post(fleur, f"{base}/messages/{by_role['nurse']}/delete", {}).status_code == 403
    assert _post(fleur, f"{base}/messages/{by_role['family']}/delete", {}).status_code == 303
    gijs = _browser(sessions, fw.gijs, pub)
    page = gijs.get(f"/family/{fw.w.client_id}")
    assert page.status_code == 200
    assert "robot-messages" not in page.text
    r = _post(gijs, base + "/messages", {"text": "Hoi", "at": "19:00", "recurrence": "daily"})
    assert r.status_code == 404


def test_family_chooses_notifications(sessions: sessionmaker[Session]) -> None:
    fw = seed_family_world(sessions)
    fleur = _browser(sessions, fw.fleur, FakePublisher())
    r = _post(fleur, f"/family/{fw.w.client_id}/notify", {"kinds": ["fall", "robot_offline"]})
    assert r.status_code == 303
    with sessions() as s:
        link = s.get(FamilyLink, (fw.ids[fw.fleur], fw.w.client_id))
        assert link is not None
        assert link.notify == ["fall", "robot_offline"]
    assert "family.notify.set" in _actions(sessions, fw.w.client_id)
    page = fleur.get(f"/family/{fw.w.client_id}")
    assert re.search(r'value="fall" checked', page.text)
    assert not re.search(r'value="not_up" checked', page.text)


def test_pages_speak_english_too(sessions: sessionmaker[Session]) -> None:
    fw = seed_family_world(sessions)
    fleur = _browser(sessions, fw.fleur, FakePublisher())
    fleur.cookies.set("lang", "en")
    page = fleur.get(f"/family/{fw.w.client_id}")
    assert "The last 14 days" in page.text
    assert "What do you want to hear about?" in page.text
    anna = _browser(sessions, fw.w.anna, FakePublisher())
    anna.cookies.set("lang", "en")
    assert "Schedule on the robot" in anna.get(f"/clients/{fw.w.client_id}/robot").text


def test_message_forms_refuse_access_on_both_pages(
    sessions: sessionmaker[Session],
) -> None:
    """The team and family pages share their message handlers: each refuses who may not
    change the client's messages (404, or the login page) for every action and changes
    nothing; each answer leads back to its own page."""
    fw = seed_family_world(sessions)
    pub = FakePublisher()
    anna = _browser(sessions, fw.w.anna, pub)
    assert _post(anna, f"/clients/{fw.w.client_id}/robot/messages", MESSAGE).status_code == 303
    with sessions() as s:
        (mid,) = s.scalars(
            select(ScheduledMessage.id).where(ScheduledMessage.client_id == fw.w.client_id)
        ).all()
    sent = len(pub.sent)
    team = f"/clients/{fw.w.client_id}/robot/messages"
    family = f"/family/{fw.w.client_id}/robot/messages"
    actions = ("", f"/{mid}", f"/{mid}/delete")
    dirk = _browser(sessions, fw.w.dirk, pub)  # another team's nurse
    gijs = _browser(sessions, fw.gijs, pub)  # family without robot messages
    fleur = _browser(sessions, fw.fleur, pub)  # family with robot messages
    for action in actions:
        # The wrong kind of user: 404 even for a form missing every field.
        for form in (MESSAGE, {}):
            assert _post(dirk, family + action, form).status_code == 404, action
            assert _post(fleur, team + action, form).status_code == 404, action
        # The right kind, but not for this client.
        assert _post(dirk, team + action, MESSAGE).status_code == 404, action
        assert _post(gijs, family + action, MESSAGE).status_code == 404, action
    anonymous = TestClient(create_app(sessions), base_url=BASE)
    r = anonymous.post(team, data=MESSAGE, headers={"origin": BASE}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    # The team changes and removes its message; the answers lead back to each page.
    r = _post(anna, team + f"/{mid}", MESSAGE | {"text": "Tijd voor koffie"})
    assert (r.status_code, r.headers["location"]) == (
        303,
        f"/clients/{fw.w.client_id}/robot?saved=1",
    )
    r = _post(anna, team + f"/{mid}/delete", {})
    assert r.headers["location"] == f"/clients/{fw.w.client_id}/robot?removed=1"
    r = _post(fleur, family, {"text": "Dag mam!", "at": "19:00", "recurrence": "daily"})
    assert r.headers["location"] == f"/family/{fw.w.client_id}?saved=1#robot-messages"
    assert len(pub.sent) == sent + 3
