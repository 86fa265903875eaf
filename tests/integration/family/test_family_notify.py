"""Ingest hook: unanswered robot questions notify chosen family once, after the last repeat."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from robots_world import RWorld
from sqlalchemy import select

from devices import envelope, topics
from devices.payloads import Answer, QuestionAnswered
from hub.family.models import FamilyNotification
from hub.family.service import notifications_hook
from hub.ingest.store import Inbound, store_batch
from hub.robots import service as robots
from hub.robots.schedule import Recurrence, at_local, parse_hhmm
from hub.robots.schemas import MessageIn

DAY = date(2026, 11, 24)


def answered(w: RWorld, mid: str, sched: datetime, answer: Answer, after_min: int) -> Inbound:
    ts = sched + timedelta(minutes=after_min)
    data = QuestionAnswered(message_id=mid, schedule_version=1, scheduled_for=sched, answer=answer)
    payload = envelope.encode(
        id=str(uuid.uuid4()),
        device_id=w.robot.id,
        ts=ts,
        seq=after_min,
        type="question.answered",
        data=data,
    )
    return Inbound(topics.event_topic(w.robot.id, "question.answered"), payload, ts)


def store(w: RWorld, *msgs: Inbound) -> None:
    store_batch(w.session, list(msgs), hooks=[notifications_hook])


def notes(w: RWorld) -> list[tuple[str, str, str]]:
    rows = w.session.scalars(select(FamilyNotification).order_by(FamilyNotification.id))
    return [(n.user_id, n.kind, n.dedup_key) for n in rows]


def test_unanswered_question_notifies_after_its_repeat_only(rworld: RWorld) -> None:
    def add(text: str, at: str, repeat: int | None) -> str:
        m = robots.add_message(
            rworld.session,
            user=rworld.anna,
            client_id=rworld.client.id,
            data=MessageIn(
                text=text,
                at=at,
                recurrence=Recurrence.DAILY,
                question=True,
                repeat_if_unanswered_min=repeat,
            ),
            source="test",
            now=at_local(DAY, parse_hhmm("06:00")),
        )
        return m.id

    breakfast = add("Heeft u ontbeten?", "09:00", 15)
    drinks = add("Genoeg gedronken?", "15:00", None)
    t9 = at_local(DAY, parse_hhmm("09:00"))
    t15 = at_local(DAY, parse_hhmm("15:00"))
    store(rworld, answered(rworld, breakfast, t9, Answer.NO_ANSWER, 2))
    assert notes(rworld) == []  # the robot will ask again in 15 minutes
    store(rworld, answered(rworld, breakfast, t9, Answer.NO_ANSWER, 17))
    store(rworld, answered(rworld, drinks, t15, Answer.YES, 1))
    first = answered(rworld, drinks, t15 + timedelta(days=1), Answer.NO_ANSWER, 2)
    store(rworld, first)
    store(rworld, first)  # a redelivery is not a second notification
    got = notes(rworld)
    assert [(u, k) for u, k, _ in got] == [
        (rworld.fleur.id, "question_unanswered"),  # gijs did not choose these
        (rworld.fleur.id, "question_unanswered"),
    ]
    assert breakfast in got[0][2]
    assert drinks in got[1][2]
