"""A schedule round trip through the real broker to a robot and back (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from robots_world import RWorld, build_world
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devices import envelope, topics
from devices.payloads import Answer, MessageSpoken, QuestionAnswered, RobotSchedule
from hub.auth.models import User
from hub.broker.dynsec import DynSecClient
from hub.family.models import FamilyNotification
from hub.family.service import notifications_hook
from hub.ingest.service import IngestConfig, IngestService
from hub.robots import service
from hub.robots.models import RobotStatusChange
from hub.robots.publisher import PahoPublisher, PublishError
from hub.robots.schedule import Recurrence, at_local, local_day, parse_hhmm
from hub.robots.schemas import MessageIn
from hub.store.db import unit_of_work
from hub.store.models import DeviceAck, Event
from tests.conftest import RunningBroker
from tests.integration.mqtt_helpers import TestDevice, wait_until

pytestmark = pytest.mark.broker


class SimRobot:
    """A robot on the broker: takes its schedule, acks it, speaks and reports answers."""

    def __init__(self, dev: TestDevice, answer: str = "no") -> None:
        self.dev = dev
        self.answer = answer
        self.schedules: list[RobotSchedule] = []
        self.outbox: list[tuple[str, bytes]] = []
        dev.client.on_message = self._on_message

    def _on_message(self, client: Any, _u: Any, msg: Any) -> None:
        # Runs on paho's thread: only publish (never wait for PUBACK here).
        sched = RobotSchedule.model_validate_json(msg.payload)
        if self.schedules and sched.version <= self.schedules[-1].version:
            ack = {"command": "schedule", "version": sched.version, "ok": True}
            client.publish(topics.ack_topic(self.dev.device_id), json.dumps(ack), qos=1)
            return  # same version again (retained redelivery): nothing to change
        self.schedules.append(sched)
        ack = {"command": "schedule", "version": sched.version, "ok": True}
        client.publish(topics.ack_topic(self.dev.device_id), json.dumps(ack), qos=1)

    def subscribe(self) -> None:
        self.dev.client.subscribe(topics.device_command_filter(self.dev.device_id), qos=1)

    def speak_all(self, now: datetime) -> int:
        """Speak every message of today's schedule now; answer questions. Returns events sent."""
        sched = self.schedules[-1]
        day = local_day(now)
        sent = 0
        for m in sched.messages:
            when = at_local(day, parse_hhmm(m.at))
            spoken = MessageSpoken(
                message_id=m.message_id,
                schedule_version=sched.version,
                scheduled_for=when,
                text=m.text,
                question=m.question,
            )
            self._send("message.spoken", spoken, now)
            sent += 1
            if m.question:
                answered = QuestionAnswered(
                    message_id=m.message_id,
                    schedule_version=sched.version,
                    scheduled_for=when,
                    answer=Answer(self.answer),
                )
                self._send("question.answered", answered, now + timedelta(seconds=20))
                sent += 1
        return sent

    def _send(self, typ: str, data: Any, ts: datetime) -> None:
        self.dev.seq += 1
        payload = envelope.encode(
            id=str(uuid.uuid4()),
            device_id=self.dev.device_id,
            ts=ts,
            seq=self.dev.seq,
            type=typ,
            data=data,
        )
        rc = self.dev.publish_raw(topics.event_topic(self.dev.device_id, typ), payload)
        assert not rc.is_failure, rc


@pytest.fixture
def ingest(broker: RunningBroker, sessions: sessionmaker[Session]) -> Iterator[IngestService]:
    cfg = IngestConfig(
        address=broker.hub,
        client_id=f"hub-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:6]}",
    )
    svc = IngestService(cfg, sessions, hooks=[service.record_robot_status, notifications_hook])
    svc.start()
    assert svc.wait_connected(), "ingest did not connect"
    yield svc
    svc.stop()


def _count(sessions: sessionmaker[Session], stmt: Any) -> int:
    with sessions() as s:
        return int(s.scalar(stmt) or 0)


def test_schedule_round_trip_through_the_broker(
    broker: RunningBroker, sessions: sessionmaker[Session], ingest: IngestService
) -> None:
    now = datetime.now(UTC)
    robot_id = f"rob-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    with unit_of_work(sessions) as s, DynSecClient(broker.admin) as ctl:
        w: RWorld = build_world(s, robot_id=robot_id)
        ctl.add_device(robot_id, password)
        client_id, anna_id, fleur_id = w.client.id, w.anna.id, w.fleur.id
        nurse = s.get(User, anna_id)
        assert nurse is not None
        for text, at, question in [
            ("Goedemorgen!", "08:00", False),
            ("Heeft u al gegeten?", "18:30", True),
        ]:
            service.add_message(
                s,
                user=nurse,
                client_id=client_id,
                data=MessageIn(text=text, at=at, recurrence=Recurrence.DAILY, question=question),
                source="test",
                now=now,
            )
    with PahoPublisher(broker.hub) as pub:
        # Published while the robot is offline: retained, so it arrives on connect.
        with unit_of_work(sessions) as s:
            st = service.publish_schedule(s, client_id=client_id, publisher=pub, now=now)
        assert (st.state, st.version) == ("pending", 2)
        with TestDevice(broker.device_address(robot_id, password)) as dev:
            robot = SimRobot(dev)
            dev.publish_raw(topics.status_topic(robot_id), b'{"state":"online"}', retain=True)
            robot.subscribe()
            acked = (
                select(func.count())
                .select_from(DeviceAck)
                .where(
                    DeviceAck.device_id == robot_id, DeviceAck.version == 2, DeviceAck.ok.is_(True)
                )
            )
            wait_until(lambda: _count(sessions, acked) >= 1, what="ack of version 2")
            assert [m.text for m in robot.schedules[-1].messages] == [
                "Goedemorgen!",
                "Heeft u al gegeten?",
            ]
            with sessions() as s:
                assert service.schedule_status(s, client_id=client_id).state == "confirmed"
            sent = robot.speak_all(now)
            stored = select(func.count()).select_from(Event).where(Event.device_id == robot_id)
            wait_until(lambda: _count(sessions, stored) == sent, what="robot events")

            # A change while the robot is online: version 3 arrives and is confirmed.
            with unit_of_work(sessions) as s:
                nurse = s.get(User, anna_id)
                assert nurse is not None
                service.add_message(
                    s,
                    user=nurse,
                    client_id=client_id,
                    data=MessageIn(
                        text="Om 10 uur komt de wijkverpleging.",
                        at="09:30",
                        recurrence=Recurrence.WEEKDAYS,
                        weekdays=[1, 2, 3, 4, 5, 6, 7],
                    ),
                    source="test",
                    now=now,
                )
            with unit_of_work(sessions) as s:
                assert service.publish_schedule(
                    s, client_id=client_id, publisher=pub, now=now
                ).state in ("pending", "confirmed")
            acked3 = (
                select(func.count())
                .select_from(DeviceAck)
                .where(DeviceAck.device_id == robot_id, DeviceAck.version == 3)
            )
            wait_until(lambda: _count(sessions, acked3) >= 1, what="ack of version 3")
            assert [s.version for s in robot.schedules] == [2, 3]
            # The robot goes away (its Last Will says offline).
            dev.publish_raw(topics.status_topic(robot_id), b'{"state":"offline"}', retain=True)
            offline = (
                select(func.count())
                .select_from(RobotStatusChange)
                .where(
                    RobotStatusChange.device_id == robot_id, RobotStatusChange.state == "offline"
                )
            )
            wait_until(lambda: _count(sessions, offline) == 1, what="offline logged")

    with sessions() as s:
        st = service.schedule_status(s, client_id=client_id)
        assert (st.state, st.acked_version, st.robot_status) == ("confirmed", 3, "offline")
        timeline = service.day_timeline(s, client_id=client_id, day=local_day(now), now=now)
        by_text = {e.text: e for e in timeline.entries}
        assert by_text["Goedemorgen!"].state == "spoken"
        assert by_text["Heeft u al gegeten?"].state == "answered_no"
        assert by_text["Heeft u al gegeten?"].answer == "no"
        notes = s.scalars(
            select(FamilyNotification.kind).where(FamilyNotification.user_id == fleur_id)
        ).all()
        assert notes == ["robot_offline"]


def test_hub_account_may_not_publish_outside_command_topics(broker: RunningBroker) -> None:
    with PahoPublisher(broker.hub, timeout=5) as pub:
        with pytest.raises(PublishError, match="refused"):
            pub.publish(topics.event_topic("rob-00000000", "motion"), b"{}", False)


def test_publisher_reports_an_unreachable_broker() -> None:
    from hub.broker.dynsec import BrokerAddress
    from hub.broker.embedded import free_port

    address = BrokerAddress("127.0.0.1", free_port(), "hub", "secret")
    with (
        PahoPublisher(address, timeout=0.5) as pub,
        pytest.raises(PublishError, match="not connected"),
    ):
        pub.publish(topics.command_topic("rob-00000000", "schedule"), b"{}", True)
