"""Alert lifecycle on real databases (SQLite and PostgreSQL): dedup, routing, escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_helpers import T0, decision, seed
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import audit
from hub.alerts import service as svc
from hub.alerts.models import Alert, AlertTransition, EscalationStep
from hub.rules.careplan import CarePlan
from hub.rules.model import Rule, Severity
from hub.rules.service import get_care_plan, set_care_plan
from hub.store.db import unit_of_work

MIN = timedelta(minutes=1)


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(sessions) as s:
        seed(s)
    return sessions


def test_repeat_while_unresolved_updates_the_alert(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        svc.apply(s, [decision(), decision(at=T0 + 5 * MIN)], now=T0)
        svc.apply(s, [decision(Rule.FALL, client="c0002")], now=T0)
    with unit_of_work(db) as s:
        rows = s.scalars(select(Alert).order_by(Alert.id)).all()
        assert [(a.client_id, a.count) for a in rows] == [("c0001", 2), ("c0002", 1)]
        assert rows[0].last_raised_at == T0 + 5 * MIN
        assert rows[0].first_raised_at == T0


def test_repeat_raises_severity_never_lowers_it(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        svc.apply(s, [decision(Rule.DEVICE_OFFLINE, severity=Severity.MEDIUM)], now=T0)
        svc.apply(s, [decision(Rule.DEVICE_OFFLINE, severity=Severity.HIGH)], now=T0)
        svc.apply(s, [decision(Rule.DEVICE_OFFLINE, severity=Severity.LOW)], now=T0)
    with unit_of_work(db) as s:
        (a,) = s.scalars(select(Alert)).all()
        assert (a.severity, a.count) == ("high", 3)


def test_after_resolve_a_repeat_opens_a_new_alert(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        (ch,) = svc.apply(s, [decision()], now=T0)
        svc.acknowledge(s, alert_id=ch.alert_id, actor="nurse:anna", now=T0 + MIN)
        svc.resolve(
            s, alert_id=ch.alert_id, actor="nurse:anna", outcome="false_alarm", now=T0 + 2 * MIN
        )
        svc.apply(s, [decision(at=T0 + 3 * MIN)], now=T0 + 3 * MIN)
    with unit_of_work(db) as s:
        rows = s.scalars(select(Alert).order_by(Alert.id)).all()
        assert [(a.status, a.outcome) for a in rows] == [
            ("resolved", "false_alarm"),
            ("open", None),
        ]


def test_transitions_store_who_and_when_and_reach_the_audit_log(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        (ch,) = svc.apply(s, [decision()], now=T0)
        svc.acknowledge(s, alert_id=ch.alert_id, actor="nurse:anna", now=T0 + MIN)
        svc.resolve(
            s,
            alert_id=ch.alert_id,
            actor="nurse:bert",
            outcome="real_incident",
            note="op de grond gevonden",
            now=T0 + 9 * MIN,
        )
    with unit_of_work(db) as s:
        hist = svc.transitions(s, alert_id=ch.alert_id)
        assert [(t.action, t.actor, t.at) for t in hist] == [
            ("raised", svc.RULES_ACTOR, T0),
            ("acknowledged", "nurse:anna", T0 + MIN),
            ("resolved", "nurse:bert", T0 + 9 * MIN),
        ]
        report = audit.verify(s)
        assert report.ok
        assert report.entries == 3


def test_invalid_transitions_are_refused(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        (ch,) = svc.apply(s, [decision()], now=T0)
        svc.resolve(s, alert_id=ch.alert_id, actor="nurse:anna", outcome="no_action_needed", now=T0)
        with pytest.raises(svc.AlertError):
            svc.acknowledge(s, alert_id=ch.alert_id, actor="nurse:anna", now=T0)
        with pytest.raises(svc.AlertError):
            svc.resolve(s, alert_id=ch.alert_id, actor="nurse:anna", outcome="false_alarm", now=T0)
        with pytest.raises(svc.AlertNotFound):
            svc.acknowledge(s, alert_id=999, actor="x", now=T0)


def test_routing_day_team_by_day_night_team_at_night(db: sessionmaker[Session]) -> None:
    night = T0.replace(hour=23, minute=30)  # 00:30 in Amsterdam
    with unit_of_work(db) as s:
        svc.apply(s, [decision(Rule.FALL)], now=T0)
        svc.apply(s, [decision(Rule.NIGHT_EXIT)], now=night)
        svc.apply(s, [decision(Rule.NOT_UP, client="c0002")], now=T0)  # team via the home
    with unit_of_work(db) as s:
        teams = {a.rule: a.team_id for a in s.scalars(select(Alert))}
        assert teams == {"fall": "wijk-noord", "night_exit": "nacht-regio", "not_up": "wijk-noord"}


def test_night_routing_follows_summer_time(db: sessionmaker[Session]) -> None:
    # 22:30 UTC is 00:30 CEST in July (night) but 21:30 UTC is 23:30 CEST (night too) and
    # 20:30 UTC is 22:30 CEST (day team).
    with unit_of_work(db) as s:
        summer = T0.replace(month=7, day=14)
        assert (
            svc.route(
                s, client_id="c0001", at=summer.replace(hour=21, minute=30), routing=svc.Routing()
            )
            == "nacht-regio"
        )
        assert (
            svc.route(
                s, client_id="c0001", at=summer.replace(hour=20, minute=30), routing=svc.Routing()
            )
            == "wijk-noord"
        )


def test_unacknowledged_alert_escalates_up_the_chain_once_per_step(
    db: sessionmaker[Session],
) -> None:
    with unit_of_work(db) as s:
        s.add_all(
            [
                EscalationStep(team_id="wijk-noord", level=1, after_min=5, target="coordinator"),
                EscalationStep(team_id="wijk-noord", level=2, after_min=10, target="manager"),
            ]
        )
    with unit_of_work(db) as s:
        (ch,) = svc.apply(s, [decision()], now=T0)
    seen = []
    for minutes in (1, 5, 5, 6, 14, 15, 15, 40, 90):
        with unit_of_work(db) as s:
            seen += [
                (c.action, c.alert["escalated_to"])
                for c in svc.escalate_due(s, now=T0 + minutes * MIN)
            ]
    assert seen == [("escalated", "coordinator"), ("escalated", "manager")]
    with unit_of_work(db) as s:
        a = svc.get_alert(s, alert_id=ch.alert_id)
        assert (a.escalation_level, a.next_escalation_at) == (2, None)


def test_acknowledged_or_snoozed_or_low_alerts_do_not_escalate(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        (a,) = svc.apply(s, [decision(Rule.FALL)], now=T0)
        (b,) = svc.apply(s, [decision(Rule.NIGHT_EXIT, severity=Severity.HIGH)], now=T0)
        (c,) = svc.apply(s, [decision(Rule.BATTERY_LOW, severity=Severity.LOW)], now=T0)
        svc.acknowledge(s, alert_id=a.alert_id, actor="nurse:anna", now=T0 + MIN)
        svc.snooze(s, alert_id=b.alert_id, actor="nurse:anna", until=T0 + 60 * MIN, now=T0 + MIN)
    with unit_of_work(db) as s:
        assert svc.escalate_due(s, now=T0 + 30 * MIN) == []
    with unit_of_work(db) as s:
        after = svc.escalate_due(s, now=T0 + 61 * MIN)
        assert [x.alert_id for x in after] == [b.alert_id]
        assert c.alert["next_escalation_at"] is None


def _failing_batch(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        svc.apply(s, [decision()], now=T0)
        raise RuntimeError("ingest batch failed")


def test_rolled_back_alert_is_not_published(db: sessionmaker[Session]) -> None:
    from hub.alerts.broadcast import broadcaster

    got: list[dict[str, object]] = []
    original = broadcaster.publish
    broadcaster.publish = got.append  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            _failing_batch(db)
        with unit_of_work(db) as s:
            svc.apply(s, [decision(Rule.NOT_UP)], now=T0)
    finally:
        broadcaster.publish = original  # type: ignore[method-assign]
    assert [m["alert"]["rule"] for m in got] == ["not_up"]  # type: ignore[index]
    with unit_of_work(db) as s:
        assert s.scalar(select(func.count()).select_from(AlertTransition)) == 1


def test_care_plan_round_trip_and_defaults(db: sessionmaker[Session]) -> None:
    with unit_of_work(db) as s:
        assert get_care_plan(s, client_id="c0001") == CarePlan()
        set_care_plan(
            s,
            client_id="c0001",
            plan=CarePlan(night_start="22:00", wandering_risk="high"),
            actor="nurse:anna",
            now=T0,
        )
    with unit_of_work(db) as s:
        plan = get_care_plan(s, client_id="c0001")
        assert (plan.night_start, plan.wandering_risk) == ("22:00", "high")
