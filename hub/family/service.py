"""Mantelzorgers: links to clients, the day overview (traffic light + rhythm), notifications.

Family see only what the client allowed, for the clients they are linked to, and never
medication data: no dose events in the rhythm, no medication alerts in the light or the
reasons, no eTRS access (hub.auth gives family no client scope at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from devices.kinds import Kind
from devices.payloads import Answer
from hub import audit
from hub.auth.models import User
from hub.auth.service import CARE_ROLES, NotFoundError, can_access_client
from hub.family.models import FamilyLink, FamilyNotification
from hub.family.schemas import (
    DayOverviewOut,
    HourActivity,
    Light,
    LinkIn,
    LinkOut,
    NotificationKind,
    RobotSummary,
)
from hub.ingest.store import BatchResult
from hub.robots import service as robots
from hub.robots.answers import (
    AnswerSettings,
    AnswerSignal,
    SignalRule,
    answer_signals,
)
from hub.robots.models import ScheduledMessage
from hub.robots.schedule import CARE_TZ, at_local, day_bounds
from hub.robots.schemas import TimelineOut
from hub.store.models import Client, Event

# Sensor activity that makes up the day's rhythm; dispenser events are medication data.
ACTIVITY_TYPES = ("motion", "contact", "occupancy")
# Alerts family never learn about, not even as a colour.
MEDICATION_RULES = frozenset({"missed_dose"})
DAY_START = time(8, 0)
DAY_END = time(21, 0)

REASONS: dict[str, str] = {
    "not_up": "did not get up at the usual time",
    "not_eating": "signs of not eating",
    "fall": "possible fall",
    "night_exit": "went outside at night",
    "night_restless": "restless night",
    "device_offline": "a sensor was offline",
    "battery_low": "a sensor battery is low",
}


class AlertSource(Protocol):
    """Rule names of the alerts raised for a client in [start, end) (wired to hub.alerts)."""

    def __call__(
        self, session: Session, client_id: str, start: datetime, end: datetime
    ) -> list[str]: ...


def no_alerts(session: Session, client_id: str, start: datetime, end: datetime) -> list[str]:
    """AlertSource used until the alerts store is wired in."""
    return []


SettingsSource = Callable[[Session, str], AnswerSettings]


def default_settings(session: Session, client_id: str) -> AnswerSettings:
    """Answer settings used until care plans store them."""
    return AnswerSettings()


# --- links ----------------------------------------------------------------------------------


def _link_out(session: Session, link: FamilyLink) -> LinkOut:
    client = session.get(Client, link.client_id)
    return LinkOut(
        user_id=link.user_id,
        client_id=link.client_id,
        client_name=client.display_name if client else "",
        relation=link.relation,
        day_overview=link.day_overview,
        robot_messages=link.robot_messages,
        notify=list(link.notify),
        created_at=link.created_at,
    )


def _require_team(session: Session, actor: User, client_id: str) -> None:
    if actor.role not in CARE_ROLES and actor.role != "admin":
        raise NotFoundError(f"client {client_id!r} not found")
    if not can_access_client(session, actor, client_id):
        raise NotFoundError(f"client {client_id!r} not found")


def set_link(
    session: Session, *, actor: User, client_id: str, data: LinkIn, source: str, now: datetime
) -> LinkOut:
    """Record (or change) what the client allowed a family member; by her care team."""
    _require_team(session, actor, client_id)
    member = session.get(User, data.user_id)
    if member is None or member.role != "family":
        raise ValueError("the user is not a family account")
    link = session.get(FamilyLink, (member.id, client_id))
    if link is None:
        link = FamilyLink(user_id=member.id, client_id=client_id, created_at=now)
        session.add(link)
    link.relation = data.relation
    link.day_overview = data.day_overview
    link.robot_messages = data.robot_messages
    link.notify = sorted({k.value for k in data.notify})
    link.granted_by = actor.id
    session.flush()
    audit.record(
        session,
        actor=actor.id,
        action="family.link.set",
        object_type="family_link",
        object_id=f"{member.id}:{client_id}",
        source=source,
        client_id=client_id,
        detail=data.model_dump(mode="json"),
        at=now,
    )
    return _link_out(session, link)


def remove_link(
    session: Session, *, actor: User, client_id: str, user_id: str, source: str, now: datetime
) -> None:
    """Withdraw a family member's access to a client."""
    _require_team(session, actor, client_id)
    link = session.get(FamilyLink, (user_id, client_id))
    if link is None:
        raise NotFoundError("no such family link")
    session.delete(link)
    audit.record(
        session,
        actor=actor.id,
        action="family.link.remove",
        object_type="family_link",
        object_id=f"{user_id}:{client_id}",
        source=source,
        client_id=client_id,
        at=now,
    )


def links_of_client(session: Session, *, actor: User, client_id: str) -> list[LinkOut]:
    """The family members linked to a client (for her care team)."""
    _require_team(session, actor, client_id)
    rows = session.scalars(
        select(FamilyLink).where(FamilyLink.client_id == client_id).order_by(FamilyLink.user_id)
    )
    return [_link_out(session, link) for link in rows]


def my_links(session: Session, *, user: User) -> list[LinkOut]:
    """The clients a family member is linked to."""
    if user.role != "family" or not user.active:
        return []
    rows = session.scalars(
        select(FamilyLink).where(FamilyLink.user_id == user.id).order_by(FamilyLink.client_id)
    )
    return [_link_out(session, link) for link in rows]


def require_family_link(session: Session, *, user: User, client_id: str) -> FamilyLink:
    """The user's link to the client when it allows the day overview, else NotFoundError."""
    link = robots.family_link(session, user=user, client_id=client_id)
    if link is None or not link.day_overview:
        raise NotFoundError(f"client {client_id!r} not found")
    return link


# --- the day overview -----------------------------------------------------------------------


def hourly_activity(session: Session, *, home_id: str | None, day: date) -> list[HourActivity]:
    """Sensor activity per Amsterdam clock hour (23 or 25 hours on DST Sundays)."""
    start, end = day_bounds(day)
    n = int((end - start) / timedelta(hours=1))
    counts = [0] * n
    if home_id is not None:
        stamps = session.scalars(
            select(Event.ts).where(
                Event.home_id == home_id,
                Event.type.in_(ACTIVITY_TYPES),
                Event.ts >= start,
                Event.ts < end,
            )
        )
        for ts in stamps:
            counts[int((ts - start) / timedelta(hours=1))] += 1
    return [
        HourActivity(start=(start + timedelta(hours=i)).astimezone(CARE_TZ), count=c)
        for i, c in enumerate(counts)
    ]


def traffic_light(
    *,
    alert_rules: Sequence[str],
    signals: Sequence[AnswerSignal],
    missed_messages: int,
    activity_total: int,
    daytime_over: bool,
    meal_signals_unusual: int = 2,
) -> tuple[Light, list[str]]:
    """The day's colour and its reasons, from what family may know (pure)."""
    reasons: list[str] = []
    visible = [r for r in alert_rules if r not in MEDICATION_RULES]
    for rule in dict.fromkeys(visible):
        reasons.append(REASONS.get(rule, "the care team was alerted"))
    light: Light = "alert" if visible else "normal"
    unusual: list[str] = []
    # One "no" to "have you had breakfast?" is ordinary; both meals of a day are not.
    meals = sum(s.rule is SignalRule.NOT_EATING for s in signals)
    if meals >= meal_signals_unusual:
        unusual.append("robot questions suggest not eating")
    if any(s.rule is SignalRule.NOT_UP for s in signals):
        unusual.append("morning questions were not answered")
    if missed_messages:
        unusual.append(f"{missed_messages} robot message(s) not spoken")
    if daytime_over and activity_total == 0:
        unusual.append("no activity seen in the home")
    if light == "normal" and unusual:
        light = "unusual"
    return light, reasons + unusual


def _day_light(
    session: Session,
    *,
    client: Client,
    day: date,
    now: datetime,
    alerts: AlertSource,
    settings: SettingsSource,
) -> tuple[Light, list[str], list[HourActivity], TimelineOut]:
    """A day's colour, reasons, hourly activity and robot timeline (no access log)."""
    start, end = day_bounds(day)
    hours = hourly_activity(session, home_id=client.home_id, day=day)
    timeline = robots.day_timeline(session, client_id=client.id, day=day, now=now)
    answers = robots.day_answers(session, client_id=client.id, day=day)
    signals = answer_signals(answers, settings(session, client.id))
    missed = sum(e.state.startswith("missed") for e in timeline.entries)
    light, reasons = traffic_light(
        alert_rules=alerts(session, client.id, start, end),
        signals=signals,
        missed_messages=missed,
        activity_total=sum(h.count for h in hours),
        daytime_over=now >= at_local(day, DAY_END),
    )
    return light, reasons, hours, timeline


def day_lights(
    session: Session,
    *,
    user: User,
    client_id: str,
    days: Sequence[date],
    now: datetime,
    source: str,
    alerts: AlertSource = no_alerts,
    settings: SettingsSource = default_settings,
) -> list[tuple[date, Light, list[str]]]:
    """The traffic light of each day (e.g. the last 14) for a family member; access-logged."""
    require_family_link(session, user=user, client_id=client_id)
    client = session.get(Client, client_id)
    if client is None:
        raise NotFoundError(f"client {client_id!r} not found")
    out: list[tuple[date, Light, list[str]]] = []
    for day in days:
        light, reasons, _hours, _timeline = _day_light(
            session, client=client, day=day, now=now, alerts=alerts, settings=settings
        )
        out.append((day, light, reasons))
    audit.record(
        session,
        actor=user.id,
        action="family.lights.view",
        object_type="day_overview",
        object_id=f"{client_id}:{days[0].isoformat()}..{days[-1].isoformat()}" if days else "",
        source=source,
        client_id=client_id,
        detail={"days": len(out)},
        at=now,
    )
    return out


def activity_counts(
    session: Session, *, home_id: str | None, days: Sequence[date]
) -> dict[tuple[date, int], int]:
    """Sensor activity per (Amsterdam date, clock hour) over the days (for the heat map)."""
    counts: dict[tuple[date, int], int] = {}
    if home_id is None or not days:
        return counts
    start, _ = day_bounds(min(days))
    _, end = day_bounds(max(days))
    stamps = session.scalars(
        select(Event.ts).where(
            Event.home_id == home_id,
            Event.type.in_(ACTIVITY_TYPES),
            Event.ts >= start,
            Event.ts < end,
        )
    )
    for ts in stamps:
        local = ts.astimezone(CARE_TZ)
        key = (local.date(), local.hour)
        counts[key] = counts.get(key, 0) + 1
    return counts


def set_my_notifications(
    session: Session,
    *,
    user: User,
    client_id: str,
    kinds: Sequence[NotificationKind],
    source: str,
    now: datetime,
) -> LinkOut:
    """A family member chooses which (daytime) notifications she gets about a client."""
    link = require_family_link(session, user=user, client_id=client_id)
    before = list(link.notify)
    link.notify = sorted({k.value for k in kinds})
    session.flush()
    audit.record(
        session,
        actor=user.id,
        action="family.notify.set",
        object_type="family_link",
        object_id=f"{user.id}:{client_id}",
        source=source,
        client_id=client_id,
        detail={"before": before, "after": link.notify},
        at=now,
    )
    return _link_out(session, link)


def day_overview(
    session: Session,
    *,
    user: User,
    client_id: str,
    day: date,
    now: datetime,
    source: str,
    alerts: AlertSource = no_alerts,
    settings: SettingsSource = default_settings,
) -> DayOverviewOut:
    """A family member's overview of one day; access-logged."""
    link = require_family_link(session, user=user, client_id=client_id)
    client = session.get(Client, client_id)
    if client is None:
        raise NotFoundError(f"client {client_id!r} not found")
    light, reasons, hours, timeline = _day_light(
        session, client=client, day=day, now=now, alerts=alerts, settings=settings
    )
    missed = sum(e.state.startswith("missed") for e in timeline.entries)
    robot = None
    if link.robot_messages:
        states = [e.state for e in timeline.entries]
        robot = RobotSummary(
            spoken=sum(e.times_spoken > 0 for e in timeline.entries),
            answered_yes=states.count("answered_yes"),
            answered_no=states.count("answered_no"),
            unanswered=states.count("no_answer"),
            missed=missed,
            entries=timeline.entries,
        )
    audit.record(
        session,
        actor=user.id,
        action="family.overview.view",
        object_type="day_overview",
        object_id=f"{client_id}:{day.isoformat()}",
        source=source,
        client_id=client_id,
        at=now,
    )
    return DayOverviewOut(
        client_id=client_id,
        client_name=client.display_name,
        day=day,
        light=light,
        reasons=reasons,
        hours=hours,
        robot=robot,
    )


# --- notifications --------------------------------------------------------------------------


def deliver_after(occurred_at: datetime) -> datetime:
    """Daytime only: a night-time happening is told at 08:00 Amsterdam."""
    local = occurred_at.astimezone(CARE_TZ)
    t = local.time()
    if DAY_START <= t < DAY_END:
        return occurred_at.astimezone(UTC)
    day = local.date() if t < DAY_START else local.date() + timedelta(days=1)
    return at_local(day, DAY_START)


def _insert_notification(session: Session, row: dict[str, object]) -> int:
    # A redelivered event or a re-raised alert must not notify twice: skip on the unique key.
    keys = ["user_id", "dedup_key"]
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = pg_insert(FamilyNotification).on_conflict_do_nothing(index_elements=keys)
    else:
        stmt = sqlite_insert(FamilyNotification).on_conflict_do_nothing(index_elements=keys)
    inserted = session.execute(stmt.values(**row).returning(FamilyNotification.id)).all()
    return len(inserted)


def notify(
    session: Session,
    *,
    client_id: str,
    kind: NotificationKind,
    text: str,
    occurred_at: datetime,
    dedup_key: str,
    now: datetime,
) -> int:
    """Store a notification for every family member who chose this kind; returns how many."""
    stored = 0
    links = session.scalars(select(FamilyLink).where(FamilyLink.client_id == client_id))
    for link in links:
        if kind.value not in link.notify:
            continue
        stored += _insert_notification(
            session,
            {
                "user_id": link.user_id,
                "client_id": client_id,
                "kind": kind.value,
                "text": text,
                "occurred_at": occurred_at.astimezone(UTC),
                "deliver_after": deliver_after(occurred_at),
                "dedup_key": f"{kind.value}:{dedup_key}"[:200],
                "created_at": now.astimezone(UTC),
                "read_at": None,
            },
        )
    return stored


def notify_alert(
    session: Session, *, client_id: str, rule: str, alert_id: str, at: datetime, now: datetime
) -> int:
    """For hub.alerts: tell family who chose it about a raised alert (never medication)."""
    if rule in MEDICATION_RULES:
        return 0
    try:
        kind = NotificationKind(rule)
    except ValueError:
        return 0
    client = session.get(Client, client_id)
    name = client.display_name if client else "your relative"
    return notify(
        session,
        client_id=client_id,
        kind=kind,
        text=f"{name}: {REASONS.get(rule, rule)}. The care team has been alerted.",
        occurred_at=at,
        dedup_key=alert_id,
        now=now,
    )


def _clients_in_home(session: Session, home_id: str | None) -> list[Client]:
    if home_id is None:
        return []
    return list(session.scalars(select(Client).where(Client.home_id == home_id)))


def _final_no_answer(session: Session, ev_home: str, data: dict[str, object]) -> bool:
    """True when this no_answer is the last word on its moment (no repeat still to come)."""
    message = session.get(ScheduledMessage, str(data.get("message_id")))
    if message is None or not message.repeat_if_unanswered_min:
        return True
    sched = datetime.fromisoformat(str(data["scheduled_for"]))
    rows = session.scalars(
        select(Event.data).where(
            Event.home_id == ev_home,
            Event.type == "question.answered",
            Event.ts >= sched,
            Event.ts < sched + timedelta(hours=6),
        )
    )
    same = [
        d
        for d in rows
        if d.get("message_id") == data.get("message_id")
        and d.get("scheduled_for") == data.get("scheduled_for")
        and d.get("answer") == Answer.NO_ANSWER
    ]
    return len(same) >= 2  # the first one and its repeat both went unanswered


def notifications_hook(session: Session, result: BatchResult) -> None:
    """BatchHook: unanswered robot questions and robot outages become family notifications."""
    for stored in result.stored:
        env = stored.envelope
        if env.type != "question.answered" or env.data.get("answer") != Answer.NO_ANSWER:
            continue
        if stored.home_id is None or not _final_no_answer(session, stored.home_id, env.data):
            continue
        for client in _clients_in_home(session, stored.home_id):
            notify(
                session,
                client_id=client.id,
                kind=NotificationKind.QUESTION_UNANSWERED,
                text=f"{client.display_name} did not answer the robot's question.",
                occurred_at=env.ts,
                dedup_key=f"{env.data.get('message_id')}:{env.data.get('scheduled_for')}",
                now=stored.received_at,
            )
    for change in result.statuses:
        if change.kind is not Kind.ROBOT or change.state != "offline":
            continue
        for client in _clients_in_home(session, change.home_id):
            notify(
                session,
                client_id=client.id,
                kind=NotificationKind.ROBOT_OFFLINE,
                text=f"The robot at {client.display_name}'s home is offline.",
                occurred_at=change.at,
                dedup_key=f"{change.device_id}:{change.at.isoformat()}",
                now=change.at,
            )


def my_notifications(
    session: Session, *, user: User, now: datetime, source: str, limit: int = 100
) -> list[FamilyNotification]:
    """A family member's notifications that are due (daytime), newest first; access-logged."""
    rows = list(
        session.scalars(
            select(FamilyNotification)
            .where(FamilyNotification.user_id == user.id, FamilyNotification.deliver_after <= now)
            .order_by(FamilyNotification.deliver_after.desc(), FamilyNotification.id.desc())
            .limit(limit)
        )
    )
    # Only clients still linked: a withdrawn link withdraws the history too.
    linked = {link.client_id for link in my_links(session, user=user)}
    rows = [n for n in rows if n.client_id in linked]
    audit.record(
        session,
        actor=user.id,
        action="family.notifications.view",
        object_type="family_notifications",
        object_id=user.id,
        source=source,
        detail={"clients": sorted({n.client_id for n in rows}), "count": len(rows)},
        at=now,
    )
    return rows
