"""Robot schedules: who may change them, versioning, delivery to the robot, ack status, timeline.

Services never commit. Delivery is a two-step unit of work (see ADR 0010): the change and
its version bump are committed first, then `publish_schedule` sends the full schedule
(retained, QoS 1) and records what was sent; a failed send leaves the schedule
`unpublished`, and `republish_unpublished` retries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices import topics
from devices.kinds import Kind
from devices.payloads import Answer, RobotMessage, RobotSchedule
from hub import audit
from hub.auth.models import User
from hub.auth.service import CARE_ROLES, NotFoundError, can_access_client
from hub.family.models import FamilyLink
from hub.ingest.store import BatchResult
from hub.robots.answers import ANSWER_RANK, Answered, answered_from_event
from hub.robots.models import ClientSchedule, RobotStatusChange, ScheduledMessage, as_dict
from hub.robots.publisher import Publisher, PublishError
from hub.robots.schedule import MessageRule, Recurrence, day_bounds, local_day, occurrences
from hub.robots.schemas import (
    DeliveryState,
    EntryState,
    MessageIn,
    MessageOut,
    ScheduleStatusOut,
    TimelineEntryOut,
    TimelineOut,
)
from hub.store.models import Client, Device, DeviceAck, Event

COMMAND = "schedule"
MAX_MESSAGES = 500  # RobotSchedule.messages max_length
# A moment is "due" (not yet missed) this long after its time: the robot speaks within
# seconds, but its event may sit in the broker's queue for a moment.
DUE_GRACE = timedelta(minutes=10)
ROBOT_EVENT_TYPES = ("message.spoken", "question.answered")


class PermissionDeniedError(PermissionError):
    """The user may see the schedule but not make this change (answered as 403)."""


class ScheduleFullError(ValueError):
    """The schedule already holds the most messages a robot accepts (answered as 409)."""


# --- access ---------------------------------------------------------------------------------


def family_link(session: Session, *, user: User, client_id: str) -> FamilyLink | None:
    """The family link of an active family user to a client, if any."""
    if user.role != "family" or not user.active:
        return None
    return session.get(FamilyLink, (user.id, client_id))


def require_robot_access(session: Session, *, user: User, client_id: str) -> Client:
    """The client when the user may see and edit its robot messages, else NotFoundError.

    Team members of the client's team and administrators may; family members only when
    the client allowed them robot messages. Anyone else gets the same answer as for a
    client that does not exist.
    """
    allowed = False
    if user.role in CARE_ROLES or user.role == "admin":
        allowed = can_access_client(session, user, client_id)
    elif user.role == "family":
        link = family_link(session, user=user, client_id=client_id)
        allowed = link is not None and link.robot_messages
    client = session.get(Client, client_id) if allowed else None
    if client is None:
        raise NotFoundError(f"client {client_id!r} not found")
    return client


def _may_change(user: User, message: ScheduledMessage) -> bool:
    # Family may change only what they wrote; the team may change everything.
    return user.role != "family" or message.created_by == user.id


# --- messages -------------------------------------------------------------------------------


def message_out(m: ScheduledMessage) -> MessageOut:
    """API view of a message."""
    return MessageOut(
        id=m.id,
        text=m.text,
        at=m.at,
        recurrence=Recurrence(m.recurrence),
        weekdays=m.weekdays,
        on=date.fromisoformat(m.on_date) if m.on_date else None,
        question=m.question,
        repeat_if_unanswered_min=m.repeat_if_unanswered_min,
        created_by_role=m.created_by_role,
        created_at=m.created_at,
        updated_at=m.updated_at,
    )


def list_messages(session: Session, *, client_id: str) -> list[ScheduledMessage]:
    """The client's messages in time-of-day order."""
    return list(
        session.scalars(
            select(ScheduledMessage)
            .where(ScheduledMessage.client_id == client_id)
            .order_by(ScheduledMessage.at, ScheduledMessage.id)
        )
    )


def _bump(session: Session, *, client_id: str, actor: str, now: datetime) -> ClientSchedule:
    head = session.get(ClientSchedule, client_id)
    if head is None:
        head = ClientSchedule(client_id=client_id, version=0, updated_at=now, updated_by=actor)
        session.add(head)
    head.version += 1
    head.updated_at = now
    head.updated_by = actor
    session.flush()
    return head


def _apply(m: ScheduledMessage, data: MessageIn) -> None:
    m.text = data.text
    m.at = data.at
    m.recurrence = data.recurrence.value
    m.weekdays = data.weekdays
    m.on_date = data.on.isoformat() if data.on else None
    m.question = data.question
    m.repeat_if_unanswered_min = data.repeat_if_unanswered_min


def add_message(
    session: Session,
    *,
    user: User,
    client_id: str,
    data: MessageIn,
    source: str,
    now: datetime,
) -> ScheduledMessage:
    """Add a message to the client's schedule (bumps the version)."""
    require_robot_access(session, user=user, client_id=client_id)
    count = session.scalar(select(func.count()).where(ScheduledMessage.client_id == client_id))
    if (count or 0) >= MAX_MESSAGES:
        raise ScheduleFullError(f"a robot schedule holds at most {MAX_MESSAGES} messages")
    m = ScheduledMessage(
        id="m-" + uuid.uuid4().hex[:20],
        client_id=client_id,
        created_by=user.id,
        created_by_role=user.role,
        created_at=now,
        updated_at=now,
    )
    _apply(m, data)
    session.add(m)
    head = _bump(session, client_id=client_id, actor=user.id, now=now)
    audit.record(
        session,
        actor=user.id,
        action="robot.message.add",
        object_type="robot_message",
        object_id=m.id,
        source=source,
        client_id=client_id,
        detail=as_dict(m) | {"version": head.version},
        at=now,
    )
    return m


def _own_message(
    session: Session, *, user: User, client_id: str, message_id: str
) -> ScheduledMessage:
    require_robot_access(session, user=user, client_id=client_id)
    m = session.get(ScheduledMessage, message_id)
    if m is None or m.client_id != client_id:
        raise NotFoundError(f"message {message_id!r} not found")
    if not _may_change(user, m):
        raise PermissionDeniedError("family members may change only the messages they wrote")
    return m


def update_message(
    session: Session,
    *,
    user: User,
    client_id: str,
    message_id: str,
    data: MessageIn,
    source: str,
    now: datetime,
) -> ScheduledMessage:
    """Replace a message's content and timing (bumps the version)."""
    m = _own_message(session, user=user, client_id=client_id, message_id=message_id)
    _apply(m, data)
    m.updated_at = now
    head = _bump(session, client_id=client_id, actor=user.id, now=now)
    audit.record(
        session,
        actor=user.id,
        action="robot.message.update",
        object_type="robot_message",
        object_id=m.id,
        source=source,
        client_id=client_id,
        detail=as_dict(m) | {"version": head.version},
        at=now,
    )
    return m


def delete_message(
    session: Session,
    *,
    user: User,
    client_id: str,
    message_id: str,
    source: str,
    now: datetime,
) -> None:
    """Remove a message from the schedule (bumps the version)."""
    m = _own_message(session, user=user, client_id=client_id, message_id=message_id)
    detail = as_dict(m)
    session.delete(m)
    head = _bump(session, client_id=client_id, actor=user.id, now=now)
    audit.record(
        session,
        actor=user.id,
        action="robot.message.delete",
        object_type="robot_message",
        object_id=message_id,
        source=source,
        client_id=client_id,
        detail=detail | {"version": head.version},
        at=now,
    )


# --- delivery -------------------------------------------------------------------------------


def robot_for_client(session: Session, *, client_id: str) -> Device | None:
    """The client's robot: the active robot device in her home (first by id if several)."""
    client = session.get(Client, client_id)
    if client is None or client.home_id is None:
        return None
    return session.scalars(
        select(Device)
        .where(
            Device.home_id == client.home_id,
            Device.kind == Kind.ROBOT.value,
            Device.revoked_at.is_(None),
        )
        .order_by(Device.id)
        .limit(1)
    ).first()


def build_command(session: Session, *, client_id: str) -> RobotSchedule:
    """The full current schedule as the robot's `schedule` command."""
    head = session.get(ClientSchedule, client_id)
    msgs = [
        RobotMessage(
            message_id=m.id,
            text=m.text,
            at=m.at,
            weekdays=m.weekdays if m.recurrence == Recurrence.WEEKDAYS else None,
            on=m.on_date if m.recurrence == Recurrence.ONCE else None,
            question=m.question,
            repeat_if_unanswered_min=m.repeat_if_unanswered_min,
        )
        for m in list_messages(session, client_id=client_id)
    ]
    return RobotSchedule(version=head.version if head else 0, messages=msgs)


def publish_schedule(
    session: Session, *, client_id: str, publisher: Publisher, now: datetime
) -> ScheduleStatusOut:
    """Send the full schedule to the client's robot (retained, QoS 1) and record it."""
    head = session.get(ClientSchedule, client_id)
    robot = robot_for_client(session, client_id=client_id)
    if head is None or robot is None:
        return schedule_status(session, client_id=client_id)
    command = build_command(session, client_id=client_id)
    payload = command.model_dump_json(exclude_none=True).encode()
    try:
        # Retained, so a robot that is offline now gets it when it reconnects; the version
        # makes a redelivery harmless.
        publisher.publish(topics.command_topic(robot.id, COMMAND), payload, True)
    except PublishError as exc:
        head.publish_error = str(exc)[:500]
    else:
        head.published_version = command.version
        head.published_device_id = robot.id
        head.published_at = now
        head.publish_error = None
    session.flush()
    return schedule_status(session, client_id=client_id)


def republish_unpublished(session: Session, *, publisher: Publisher, now: datetime) -> int:
    """Retry every schedule whose current version was not sent (or sent to another robot)."""
    sent = 0
    for head in session.scalars(select(ClientSchedule)):
        robot = robot_for_client(session, client_id=head.client_id)
        if robot is None:
            continue
        if head.published_version == head.version and head.published_device_id == robot.id:
            continue
        status = publish_schedule(session, client_id=head.client_id, publisher=publisher, now=now)
        sent += status.state != "unpublished"
    return sent


def _acked(session: Session, device_id: str) -> tuple[int | None, DeviceAck | None]:
    best_ok = session.scalar(
        select(func.max(DeviceAck.version)).where(
            DeviceAck.device_id == device_id, DeviceAck.command == COMMAND, DeviceAck.ok.is_(True)
        )
    )
    last = session.scalars(
        select(DeviceAck)
        .where(DeviceAck.device_id == device_id, DeviceAck.command == COMMAND)
        .order_by(DeviceAck.received_at.desc(), DeviceAck.id.desc())
        .limit(1)
    ).first()
    return best_ok, last


def schedule_status(session: Session, *, client_id: str) -> ScheduleStatusOut:
    """Whether the robot has confirmed the current version (from its stored acks)."""
    head = session.get(ClientSchedule, client_id)
    robot = robot_for_client(session, client_id=client_id)
    version = head.version if head else 0
    published = head.published_version if head else None
    acked: int | None = None
    error = head.publish_error if head else None
    state: DeliveryState
    if robot is None:
        state = "no_robot"
    else:
        acked, last = _acked(session, robot.id)
        if acked is not None and acked >= version:
            state = "confirmed"
        elif published != version or (head and head.published_device_id != robot.id):
            state = "unpublished"
        elif last is not None and not last.ok and last.version == version:
            state = "rejected"
            error = last.error
        else:
            state = "pending"
    return ScheduleStatusOut(
        client_id=client_id,
        version=version,
        published_version=published,
        acked_version=acked,
        device_id=robot.id if robot else None,
        robot_status=robot.status if robot else None,
        state=state,
        error=error,
    )


# --- robot availability history -------------------------------------------------------------


def record_robot_status(session: Session, result: BatchResult) -> None:
    """BatchHook: keep every robot online/offline report for "offline at that moment"."""
    for change in result.statuses:
        if change.kind is Kind.ROBOT:
            session.add(
                RobotStatusChange(device_id=change.device_id, state=change.state, at=change.at)
            )
    session.flush()


def robot_offline_at(session: Session, *, device: Device, at: datetime) -> bool:
    """True when the robot's last known availability at `at` was offline."""
    state = session.scalar(
        select(RobotStatusChange.state)
        .where(RobotStatusChange.device_id == device.id, RobotStatusChange.at <= at)
        .order_by(RobotStatusChange.at.desc(), RobotStatusChange.id.desc())
        .limit(1)
    )
    if state is not None:
        return state == "offline"
    # No history (hook not yet running): the current status, if it has not changed since.
    return device.status == "offline" and (device.last_seen is None or device.last_seen <= at)


# --- timeline -------------------------------------------------------------------------------


@dataclass
class _Moment:
    message_id: str
    scheduled_for: datetime
    text: str
    question: bool
    spoken: list[datetime]
    answers: list[tuple[datetime, str]]


def robot_events(
    session: Session, *, client_id: str, start: datetime, end: datetime
) -> list[Event]:
    """Spoken/answered events from the client's home with device time in [start, end)."""
    client = session.get(Client, client_id)
    if client is None or client.home_id is None:
        return []
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.home_id == client.home_id,
                Event.type.in_(ROBOT_EVENT_TYPES),
                Event.ts >= start,
                Event.ts < end,
            )
            .order_by(Event.ts, Event.seq)
        )
    )


def day_answers(session: Session, *, client_id: str, day: date) -> list[Answered]:
    """The `question.answered` events about the question moments of an Amsterdam date."""
    start, end = day_bounds(day)
    out: list[Answered] = []
    # Answers to a repeated question can come hours after the moment; look a little past.
    for ev in robot_events(session, client_id=client_id, start=start, end=end + timedelta(hours=6)):
        if ev.type != "question.answered":
            continue
        try:
            a = answered_from_event(ev.data, ev.ts)
        except ValueError:
            continue
        if local_day(a.scheduled_for) == day:
            out.append(a)
    return out


def _aware(value: Any) -> datetime:
    ts = datetime.fromisoformat(str(value))
    return ts.astimezone(UTC)


def day_timeline(session: Session, *, client_id: str, day: date, now: datetime) -> TimelineOut:
    """The robot's day: every expected and every reported message moment with its outcome."""
    start, end = day_bounds(day)
    moments: dict[tuple[str, datetime], _Moment] = {}
    msgs = {m.id: m for m in list_messages(session, client_id=client_id)}
    rules = [
        MessageRule(
            m.id,
            m.at,
            Recurrence(m.recurrence),
            tuple(m.weekdays or ()),
            date.fromisoformat(m.on_date) if m.on_date else None,
        )
        for m in msgs.values()
    ]
    for occ in occurrences(rules, day):
        m = msgs[occ.message_id]
        if occ.scheduled_for < _aware(m.created_at):
            continue  # the message did not exist yet: nothing was expected then
        moments[(m.id, occ.scheduled_for)] = _Moment(
            m.id, occ.scheduled_for, m.text, m.question, [], []
        )
    # Answers to a repeated question can come hours after the moment; look a little past.
    for ev in robot_events(session, client_id=client_id, start=start, end=end + timedelta(hours=6)):
        try:
            sched = _aware(ev.data["scheduled_for"])
            mid = str(ev.data["message_id"])
        except (KeyError, ValueError):
            continue
        if local_day(sched) != day:
            continue
        key = (mid, sched)
        mo = moments.get(key)
        if mo is None:
            known = msgs.get(mid)
            mo = _Moment(
                mid,
                sched,
                str(ev.data.get("text", known.text if known else "")),
                bool(ev.data.get("question", known.question if known else False)),
                [],
                [],
            )
            moments[key] = mo
        if ev.type == "message.spoken":
            mo.spoken.append(ev.ts)
            mo.question = mo.question or bool(ev.data.get("question", False))
        else:
            answer = str(ev.data.get("answer"))
            if answer in set(Answer):
                mo.answers.append((ev.ts, answer))
            mo.question = True
    robot = robot_for_client(session, client_id=client_id)
    entries = [
        _entry(session, mo, robot=robot, now=now)
        for mo in sorted(moments.values(), key=lambda m: (m.scheduled_for, m.message_id))
    ]
    return TimelineOut(client_id=client_id, day=day, entries=entries)


def _entry(
    session: Session, mo: _Moment, *, robot: Device | None, now: datetime
) -> TimelineEntryOut:
    answer: str | None = None
    answered_at: datetime | None = None
    for ts, a in sorted(mo.answers, key=lambda x: (x[0], ANSWER_RANK.get(Answer(x[1]), 0))):
        if a != Answer.NO_ANSWER or answer is None or answer == Answer.NO_ANSWER:
            answer, answered_at = a, ts
    state: EntryState
    if answer == Answer.YES:
        state = "answered_yes"
    elif answer == Answer.NO:
        state = "answered_no"
    elif answer == Answer.NO_ANSWER:
        state = "no_answer"
    elif mo.spoken:
        state = "spoken"
    elif mo.scheduled_for > now:
        state = "upcoming"
    elif mo.scheduled_for + DUE_GRACE > now:
        state = "due"
    elif robot is not None and robot_offline_at(session, device=robot, at=mo.scheduled_for):
        state = "missed: robot offline"
    else:
        state = "missed"
    return TimelineEntryOut(
        message_id=mo.message_id,
        scheduled_for=mo.scheduled_for,
        text=mo.text,
        question=mo.question,
        state=state,
        spoken_at=min(mo.spoken) if mo.spoken else None,
        times_spoken=len(mo.spoken),
        answer=answer,
        answered_at=answered_at,
    )
