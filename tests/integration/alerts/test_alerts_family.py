"""Family who opted in hear of a raised alert in the daytime, and never of medication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scoped_world import T_DAY, T_NIGHT, World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from etrs.schemas import EtrsAlert
from hub.alerts import service as svc
from hub.alerts.etrs_bridge import raise_etrs
from hub.family.alerts import alerts_of_day
from hub.family.models import FamilyLink, FamilyNotification
from hub.rules.model import AlertDecision, Rule, Severity
from hub.store.db import unit_of_work


def _decision(rule: Rule, at: datetime, client: str = "ca") -> AlertDecision:
    home = {"ca": "ha", "cb": "hb"}[client]
    return AlertDecision(home, client, rule, Severity.HIGH, at, "d0800@x", {"room": "toilet"})


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    w = make_world(sessions)
    with unit_of_work(sessions) as s:
        s.add(
            FamilyLink(
                user_id="u-fam",
                client_id="ca",
                relation="dochter",
                day_overview=True,
                robot_messages=False,
                notify=["fall", "night_exit"],  # not "not_up"
                granted_by="u-lead_a",
                created_at=T_DAY,
            )
        )
    return w


def _notifications(world: World) -> list[FamilyNotification]:
    with unit_of_work(world.sessions) as s:
        rows = s.scalars(select(FamilyNotification).order_by(FamilyNotification.id)).all()
        s.expunge_all()
        return list(rows)


def test_a_chosen_alert_notifies_once_in_the_daytime(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_decision(Rule.FALL, T_DAY)], now=T_DAY)
        svc.apply(s, [_decision(Rule.FALL, T_DAY)], now=T_DAY)  # a repeat: no second message
        svc.apply(s, [_decision(Rule.NOT_UP, T_DAY)], now=T_DAY)  # not chosen
        svc.apply(s, [_decision(Rule.FALL, T_DAY, client="cb")], now=T_DAY)  # not linked
    (note,) = _notifications(world)
    assert (note.user_id, note.client_id, note.kind) == ("u-fam", "ca", "fall")
    assert note.deliver_after == T_DAY  # 11:00 Amsterdam: at once
    assert "toilet" not in note.text  # the alert's detail is for the team


def test_a_night_alert_waits_for_the_morning(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_decision(Rule.NIGHT_EXIT, T_NIGHT)], now=T_NIGHT)
    (note,) = _notifications(world)
    assert note.kind == "night_exit"
    assert note.deliver_after == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)  # 08:00 Amsterdam


def test_medication_alerts_never_reach_family(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        # Family who (somehow) chose every kind still hear nothing about medication.
        link = s.get(FamilyLink, ("u-fam", "ca"))
        assert link is not None
        link.notify = ["fall", "night_exit", "missed_dose", "medication_overdue"]
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_decision(Rule.MISSED_DOSE, T_DAY)], now=T_DAY)
        raise_etrs(
            s,
            [
                EtrsAlert(
                    kind="etrs.moment_overdue",
                    client_id="ca",
                    team_id="team-a",
                    dedup_key="moment:m1",
                    severity="medium",
                    title="Medication not signed off: Acenocoumarol 08:00",
                    at=T_DAY,
                )
            ],
            now=T_DAY,
        )
    assert _notifications(world) == []


def test_the_family_day_overview_never_shows_medication_alerts(world: World) -> None:
    with unit_of_work(world.sessions) as s:
        svc.apply(s, [_decision(Rule.FALL, T_DAY), _decision(Rule.MISSED_DOSE, T_DAY)], now=T_DAY)
        raise_etrs(
            s,
            [
                EtrsAlert(
                    kind="etrs.check_rejected",
                    client_id="ca",
                    team_id="team-a",
                    dedup_key="check:a1",
                    severity="high",
                    title="Double check rejected",
                    at=T_DAY,
                )
            ],
            now=T_DAY,
        )
    with unit_of_work(world.sessions) as s:
        day = alerts_of_day(s, "ca", T_DAY - timedelta(hours=10), T_DAY + timedelta(hours=10))
    assert day == ["fall"]
