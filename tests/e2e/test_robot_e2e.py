"""Robot messages in a real browser: a nurse adds one, it is pending until the simulated robot
(connected through the real broker) confirms it, then the robot's spoken/answered events show."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from devices import topics
from hub.broker.dynsec import DynSecClient
from hub.robots.models import ScheduledMessage
from hub.robots.publisher import PahoPublisher
from hub.robots.schedule import at_local, local_day, parse_hhmm
from simulators.mqtt_sink import MqttSink
from simulators.stream import Message
from tests.conftest import RunningBroker
from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.test_round_e2e import login
from tests.integration.test_web_family_robots import seed_family_world


@pytest.fixture
def robot_publisher(broker: RunningBroker) -> Iterator[PahoPublisher]:
    """The hub's command publisher, given to the live server's app (overrides conftest's)."""
    pub = PahoPublisher(broker.hub, client_id=f"e2e-cmd-{uuid.uuid4().hex[:8]}")
    yield pub
    pub.close()


def _event(robot: str, seq: int, typ: str, data: dict[str, Any], ts: datetime) -> Message:
    env = {
        "id": str(uuid.uuid4()),
        "device_id": robot,
        "ts": ts.isoformat(),
        "seq": seq,
        "type": typ,
        "data": data,
    }
    return Message(0, "", "", robot, "robot", topics.event_topic(robot, typ), {"event": env})


def test_nurse_adds_a_message_pending_until_the_robot_confirms_then_its_answers_show(
    robot_publisher: PahoPublisher, live_server: LiveServer, browser: Any
) -> None:
    robot = f"rob-{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(12)
    fw = seed_family_world(live_server.sessions, robot_id=robot, robot_status="unknown")
    with DynSecClient(live_server.broker.admin) as ctl:
        ctl.add_device(robot, password)
    page = login(browser, live_server.url, fw.w.anna)
    page.goto(f"{live_server.url}/clients/{fw.w.client_id}/robot")
    add = page.locator("#robot-add")
    add.get_by_label("Wat de robot zegt").fill("Heeft u al gegeten?")
    add.get_by_label("Tijd").fill("00:01")
    add.get_by_label("Elke dag").check()
    add.get_by_label("Het is een vraag (ja/nee)").check()
    add.get_by_role("button", name="Opslaan en naar de robot sturen").click()
    page.wait_for_url(f"{live_server.url}/clients/{fw.w.client_id}/robot?saved=1")
    expect(page.locator("#robot-state")).to_have_text("Wacht op bevestiging")
    assert "Heeft u al gegeten?" in page.locator("#robot-messages").inner_text()
    screenshot(page, "robot-pending")

    # The robot comes online: it gets the retained schedule and acknowledges it.
    sink = MqttSink(host="127.0.0.1", port=live_server.broker.port, passwords={robot: password})
    try:
        now = datetime.now(UTC)
        sink.publish(
            Message(
                0,
                "",
                "",
                robot,
                "robot",
                topics.status_topic(robot),
                {"status": "online", "at": now.isoformat()},
                True,
            )
        )
        # The page looks again by itself while pending.
        expect(page.locator("#robot-state")).to_have_text("Bevestigd door de robot", timeout=30_000)
        expect(page.locator("#robot-online")).to_contain_text("verbonden")
        # The robot speaks the question and gets no answer.
        with live_server.sessions() as s:
            mid = s.query(ScheduledMessage.id).filter_by(client_id=fw.w.client_id).scalar()
        sched = at_local(local_day(now), parse_hhmm("00:01")).isoformat()
        base = {"message_id": mid, "schedule_version": 1, "scheduled_for": sched}
        sink.publish(
            _event(
                robot,
                1,
                "message.spoken",
                base | {"text": "Heeft u al gegeten?", "question": True},
                now,
            )
        )
        sink.publish(
            _event(
                robot,
                2,
                "question.answered",
                base | {"answer": "no_answer"},
                now + timedelta(seconds=1),
            )
        )
    finally:
        sink.close()
    entry = page.locator("#robot-days li.rentry").first
    for _ in range(30):
        page.reload()
        if entry.count() and entry.get_attribute("data-state") == "no_answer":
            break
        page.wait_for_timeout(500)
    expect(entry).to_have_attribute("data-state", "no_answer")
    expect(entry).to_contain_text("geen antwoord")
    screenshot(page, "robot-confirmed")
    page.context.close()
