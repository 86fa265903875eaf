"""Alert lifecycle: raise/dedup, route, acknowledge, resolve, snooze, escalate.

Services take a Session and never commit: the caller's unit of work does (the ingest
batch, a web request, a scheduler tick). Every transition is stored with who and when
in `alert_transitions` and in the NEN 7513 audit log. Changes reach SSE subscribers only
after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, event, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import audit
from hub.alerts.broadcast import broadcaster
from hub.alerts.models import (
    MEDICATION_RULES,
    OUTCOMES,
    Alert,
    AlertTransition,
    EscalationStep,
)
from hub.alerts.schemas import AlertOut
from hub.family import service as family
from hub.rules.localtime import in_window, parse_hhmm
from hub.rules.model import SEVERITY_RANK, AlertDecision, Rule, Severity
from hub.store.models import Client, Home, Team
from hub.tasks import service as tasks

RULES_ACTOR = "system:rules"
SCHEDULER_ACTOR = "system:escalation"
SOURCE = "hub.alerts"
ESCALATING = frozenset({Severity.HIGH.value, Severity.CRITICAL.value})
# Used when neither the team nor the organisation has a chain configured.
DEFAULT_CHAIN: tuple[tuple[int, str], ...] = ((10, "team:coordinator"), (15, "org:on-call"))
_PENDING = "carehub.alert_changes"
OUTCOMES_ALL = OUTCOMES

# Valid moves of the status machine; repeats, snoozes and escalations keep the status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "raised": frozenset({"open"}),
    "repeated": frozenset({"open", "acknowledged"}),
    "acknowledged": frozenset({"open"}),
    "resolved": frozenset({"open", "acknowledged"}),
    "snoozed": frozenset({"open", "acknowledged"}),
    "escalated": frozenset({"open"}),
    "rerouted": frozenset({"open", "acknowledged"}),
}


class AlertError(ValueError):
    """A request the alert's state does not allow."""


class AlertNotFound(LookupError):
    """No alert with that id."""


@dataclass(frozen=True, slots=True)
class Routing:
    """Organisation setting: when the night team takes over (Europe/Amsterdam)."""

    night_start: str = "23:00"
    night_end: str = "07:00"
    night_team_id: str | None = None  # None: the (first) team of kind "night"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What happened to an alert, with its state right after."""

    action: str
    alert_id: int
    alert: dict[str, Any]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("naive datetime")
    return now


def _record(
    session: Session,
    alert: Alert,
    *,
    action: str,
    actor: str,
    at: datetime,
    from_status: str | None,
    step: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AlertChange:
    det = detail or {}
    session.add(
        AlertTransition(
            alert_id=alert.id,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=alert.status,
            step=step,
            detail=det,
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"alert.{action}",
        object_type="alert",
        object_id=str(alert.id),
        source=SOURCE,
        client_id=alert.client_id,
        detail={"rule": alert.rule, "status": alert.status, **det},
        at=at,
    )
    change = AlertChange(action, alert.id, AlertOut.model_validate(alert).model_dump(mode="json"))
    session.info.setdefault(_PENDING, []).append(change)
    return change


# --- routing and escalation chains ----------------------------------------------------


def route(session: Session, *, client_id: str, at: datetime, routing: Routing) -> str | None:
    """The team on duty for a client at `at`: the night team in night hours, else its own."""
    if in_window(at, parse_hhmm(routing.night_start), parse_hhmm(routing.night_end)):
        if routing.night_team_id is not None:
            return routing.night_team_id
        night = session.scalar(select(Team.id).where(Team.kind == "night").order_by(Team.id))
        if night is not None:
            return night
    return own_team(session, client_id=client_id)


def own_team(session: Session, *, client_id: str) -> str | None:
    """The client's own (day) team: the client's, else the home's."""
    client = session.get(Client, client_id)
    if client is None:
        return None
    if client.team_id is not None:
        return client.team_id
    if client.home_id is not None:
        home = session.get(Home, client.home_id)
        return home.team_id if home is not None else None
    return None


def chain(session: Session, *, team_id: str | None) -> list[tuple[int, str]]:
    """(after_min, target) per escalation level for a team: its own, else the default."""
    for tid in ([team_id] if team_id else []) + [None]:
        cond = EscalationStep.team_id.is_(None) if tid is None else EscalationStep.team_id == tid
        rows = session.scalars(select(EscalationStep).where(cond).order_by(EscalationStep.level))
        steps = [(r.after_min, r.target) for r in rows]
        if steps:
            return steps
    return list(DEFAULT_CHAIN)


# --- raising --------------------------------------------------------------------------


def apply(
    session: Session,
    decisions: Sequence[AlertDecision],
    *,
    now: datetime | None = None,
    routing: Routing | None = None,
) -> list[AlertChange]:
    """Turn the rule engine's decisions into alerts inside the caller's transaction."""
    return [raise_alert(session, decision=d, now=now, routing=routing) for d in decisions]


def _open_alert(session: Session, key: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.open_key == key).with_for_update())


def raise_alert(
    session: Session,
    *,
    decision: AlertDecision,
    now: datetime | None = None,
    routing: Routing | None = None,
) -> AlertChange:
    """Open an alert, or update the unresolved one of the same (client, rule)."""
    return raise_named(
        session,
        client_id=decision.client_id,
        home_id=decision.home_id,
        rule=decision.rule.value,
        severity=decision.severity,
        raised_at=decision.raised_at,
        subject=decision.subject,
        detail=dict(decision.detail),
        now=now,
        routing=routing,
    )


def raise_named(
    session: Session,
    *,
    client_id: str,
    home_id: str | None,
    rule: str,
    severity: Severity,
    raised_at: datetime,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
    routing: Routing | None = None,
    follow_up: FollowUp | None = None,
) -> AlertChange:
    """Open an alert for any rule name (the engine's or another source's, e.g. eTRS)."""
    at = _now(now)
    key = f"{client_id}:{rule}"
    existing = _open_alert(session, key)
    if existing is None:
        alert = Alert(
            client_id=client_id,
            home_id=home_id,
            rule=rule,
            severity=severity.value,
            status="open",
            open_key=key,
            subject=subject,
            detail=dict(detail or {}),
            count=1,
            first_raised_at=raised_at,
            last_raised_at=raised_at,
            created_at=at,
            updated_at=at,
            team_id=route(session, client_id=client_id, at=at, routing=routing or Routing()),
            escalation_level=0,
        )
        if alert.severity in ESCALATING:
            first_after, _ = chain(session, team_id=alert.team_id)[0]
            alert.next_escalation_at = at + timedelta(minutes=first_after)
        if session.get_bind().dialect.name == "sqlite":
            # One writer at a time; and pysqlite's SAVEPOINT would commit the transaction.
            session.add(alert)
            session.flush()
            inserted = True
        else:
            # Another worker may open the same (client, rule) concurrently: the unique
            # open_key makes one of us lose; the loser counts as a repeat.
            try:
                with session.begin_nested():
                    session.add(alert)
                    session.flush()
                inserted = True
            except IntegrityError:
                inserted = False
                existing = _open_alert(session, key)
                if existing is None:  # pragma: no cover - resolved in between; fail loudly
                    raise
        if inserted:
            change = _record(
                session,
                alert,
                action="raised",
                actor=RULES_ACTOR,
                at=at,
                from_status=None,
                detail={
                    "raised_at": raised_at.isoformat(),
                    "subject": subject,
                    "team_id": alert.team_id,
                },
            )
            _after_raise(
                session,
                alert,
                subject=subject,
                raised_at=raised_at,
                at=at,
                new=True,
                follow_up=follow_up,
            )
            return change
    assert existing is not None
    prev = existing.status
    existing.count += 1
    if raised_at > existing.last_raised_at:
        existing.last_raised_at = raised_at
    if SEVERITY_RANK[severity] > SEVERITY_RANK[Severity(existing.severity)]:
        existing.severity = severity.value
    existing.updated_at = at
    change = _record(
        session,
        existing,
        action="repeated",
        actor=RULES_ACTOR,
        at=at,
        from_status=prev,
        detail={"raised_at": raised_at.isoformat(), "subject": subject, "count": existing.count},
    )
    _after_raise(
        session,
        existing,
        subject=subject,
        raised_at=raised_at,
        at=at,
        new=False,
        follow_up=follow_up,
    )
    return change


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A task the team must do because of an alert (one per dedup key)."""

    kind: str
    title: str
    dedup_key: str
    detail: dict[str, Any]
    source_event_id: str | None = None


def _follow_up_of(alert: Alert, subject: str | None) -> FollowUp | None:
    """The follow-up an engine alert needs: a missed dispenser dose is signed off by hand."""
    if alert.rule == Rule.MISSED_DOSE.value:
        dose = subject or alert.last_raised_at.isoformat()
        return FollowUp(
            kind="dose_follow_up",
            title="Dispenser dose not taken: contact the client, then sign off the moment",
            dedup_key=f"missed_dose:{alert.client_id}:{dose}",
            detail={"dose": dose},
        )
    return None


def _after_raise(
    session: Session,
    alert: Alert,
    *,
    subject: str | None,
    raised_at: datetime,
    at: datetime,
    new: bool,
    follow_up: FollowUp | None,
) -> None:
    """What follows a raise or repeat: the team's follow-up task, the family's notification."""
    task = follow_up or _follow_up_of(alert, subject)
    if task is not None:
        tasks.create_task(
            session,
            client_id=alert.client_id,
            # The client's own team follows up (by day), whoever took the alert at night.
            team_id=own_team(session, client_id=alert.client_id),
            kind=task.kind,
            title=task.title,
            dedup_key=task.dedup_key,
            actor=RULES_ACTOR,
            detail=task.detail,
            source_alert_id=alert.id,
            source_event_id=task.source_event_id,
            now=at,
        )
    if new and alert.rule not in MEDICATION_RULES:
        # Family who opted in hear of it in the daytime (night-time ones wait till morning);
        # the family module refuses medication rules too, and never gets the alert's detail.
        family.notify_alert(
            session,
            client_id=alert.client_id,
            rule=alert.rule,
            alert_id=str(alert.id),
            at=raised_at,
            now=at,
        )


# --- human actions ----------------------------------------------------------------------


def get_alert(session: Session, *, alert_id: int) -> Alert:
    """One alert; AlertNotFound if there is none."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def _check(alert: Alert, action: str) -> None:
    if alert.status not in TRANSITIONS[action]:
        raise AlertError(f"cannot {action.removesuffix('ed')} an alert that is {alert.status}")


def acknowledge(
    session: Session, *, alert_id: int, actor: str, now: datetime | None = None
) -> Alert:
    """Someone takes the alert: escalation stops."""
    at = _now(now)
    alert = get_alert(session, alert_id=alert_id)
    _check(alert, "acknowledged")
    alert.status = "acknowledged"
    alert.acknowledged_at = at
    alert.acknowledged_by = actor
    alert.next_escalation_at = None
    alert.updated_at = at
    _record(session, alert, action="acknowledged", actor=actor, at=at, from_status="open")
    return alert


def resolve(
    session: Session,
    *,
    alert_id: int,
    actor: str,
    outcome: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Close the alert with whether it was real; a later repeat opens a new alert."""
    if outcome not in OUTCOMES:
        raise AlertError(f"unknown outcome {outcome!r}")
    at = _now(now)
    alert = get_alert(session, alert_id=alert_id)
    _check(alert, "resolved")
    prev = alert.status
    alert.status = "resolved"
    alert.open_key = None
    alert.resolved_at = at
    alert.resolved_by = actor
    alert.outcome = outcome
    alert.resolution_note = note
    alert.next_escalation_at = None
    alert.snoozed_until = None
    alert.updated_at = at
    _record(
        session,
        alert,
        action="resolved",
        actor=actor,
        at=at,
        from_status=prev,
        detail={"outcome": outcome},
    )
    return alert


def snooze(
    session: Session, *, alert_id: int, actor: str, until: datetime, now: datetime | None = None
) -> Alert:
    """Quiet an alert until `until`; an unacknowledged one resumes escalating then."""
    at = _now(now)
    if until.tzinfo is None or until <= at:
        raise AlertError("snooze must end in the future")
    alert = get_alert(session, alert_id=alert_id)
    _check(alert, "snoozed")
    alert.snoozed_until = until
    if alert.status == "open" and alert.next_escalation_at is not None:
        alert.next_escalation_at = max(alert.next_escalation_at, until)
    alert.updated_at = at
    _record(
        session,
        alert,
        action="snoozed",
        actor=actor,
        at=at,
        from_status=alert.status,
        detail={"until": until.isoformat()},
    )
    return alert


# --- the scheduler's tick ---------------------------------------------------------------


def escalate_due(session: Session, *, now: datetime | None = None) -> list[AlertChange]:
    """Escalate every open, unsnoozed alert whose step is due: one level per alert per call."""
    at = _now(now)
    q = (
        select(Alert)
        .where(
            Alert.status == "open",
            Alert.next_escalation_at.is_not(None),
            Alert.next_escalation_at <= at,
            or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= at),
        )
        .order_by(Alert.id)
        .with_for_update(skip_locked=True)
    )
    changes: list[AlertChange] = []
    for alert in session.scalars(q).all():
        steps = chain(session, team_id=alert.team_id)
        level = alert.escalation_level + 1
        if level > len(steps):
            alert.next_escalation_at = None
            continue
        _, target = steps[level - 1]
        alert.escalation_level = level
        alert.escalated_to = target
        alert.next_escalation_at = (
            at + timedelta(minutes=steps[level][0]) if level < len(steps) else None
        )
        alert.updated_at = at
        changes.append(
            _record(
                session,
                alert,
                action="escalated",
                actor=SCHEDULER_ACTOR,
                at=at,
                from_status="open",
                step=level,
                detail={"to": target},
            )
        )
    return changes


def reroute_open(
    session: Session, *, now: datetime | None = None, routing: Routing | None = None
) -> list[AlertChange]:
    """Hand unresolved alerts to the team now on duty (at the start and end of the night)."""
    at = _now(now)
    changes: list[AlertChange] = []
    for alert in session.scalars(
        select(Alert).where(Alert.status != "resolved").order_by(Alert.id)
    ).all():
        team = route(session, client_id=alert.client_id, at=at, routing=routing or Routing())
        if team is not None and team != alert.team_id:
            old = alert.team_id
            alert.team_id = team
            alert.updated_at = at
            changes.append(
                _record(
                    session,
                    alert,
                    action="rerouted",
                    actor=SCHEDULER_ACTOR,
                    at=at,
                    from_status=alert.status,
                    detail={"from": old, "to": team},
                )
            )
    return changes


# --- queries ----------------------------------------------------------------------------


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    client_id: str | None = None,
    team_id: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    limit: int = 100,
    offset: int = 0,
    where: ColumnElement[bool] | None = None,
) -> Sequence[Alert]:
    """Alerts, newest first, filtered (`where`: e.g. the user's scope, hub.alerts.scope)."""
    q = select(Alert)
    if where is not None:
        q = q.where(where)
    if status is not None:
        q = q.where(Alert.status == status)
    if client_id is not None:
        q = q.where(Alert.client_id == client_id)
    if team_id is not None:
        q = q.where(Alert.team_id == team_id)
    if rule is not None:
        q = q.where(Alert.rule == rule)
    if severity is not None:
        q = q.where(Alert.severity == severity)
    q = q.order_by(Alert.id.desc()).limit(limit).offset(offset)
    return session.scalars(q).all()


def transitions(session: Session, *, alert_id: int) -> Sequence[AlertTransition]:
    """An alert's history, oldest first."""
    q = select(AlertTransition).where(AlertTransition.alert_id == alert_id)
    return session.scalars(q.order_by(AlertTransition.id)).all()


# --- publishing after commit ------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released; the transaction is still open
    pending: list[AlertChange] = session.info.pop(_PENDING, [])
    for change in pending:
        broadcaster.publish({"action": change.action, "alert": change.alert})


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing survives
        session.info.pop(_PENDING, None)
