"""Sign-off, list-change acknowledgement, corrections, four-eyes checks and append-only records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from etrs_world import T0, World, item
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from etrs.immutable import AppendOnlyViolation
from etrs.models import Administration
from etrs.schemas import CheckFacts
from etrs.service import (
    EtrsPolicy,
    SignOffRefused,
    check_inbox,
    correct_administration,
    decide_check,
    moments_for,
    overdue_decisions,
    request_check,
    sign_off,
)
from hub.auth.service import NotFoundError

DAY = date(2026, 3, 21)
AT_0805 = datetime(2026, 3, 21, 7, 5, tzinfo=UTC)  # 08:05 CET


def _moment(world: World, name: str, *, user=None, day: date = DAY, now: datetime = AT_0805):  # type: ignore[no-untyped-def]
    moments = moments_for(world.session, user=user or world.anna, day=day, source="t", now=now)
    return next(m for m in moments if m.medication_name == name)


def _insulin(world: World):  # type: ignore[no-untyped-def]
    stored = world.store(
        [item("ins", "Insuline aspart 100E/ml", atc="A10AB05", unit="E", dose="8", in_gds=False)]
    )
    world.ack(world.anna, stored.version.id)
    world.ack(world.bram, stored.version.id)
    world.ack(world.cees, stored.version.id)
    return _moment(world, "Insuline aspart 100E/ml")


def _sign(world: World, moment, user=None, now: datetime = AT_0805, **kw):  # type: ignore[no-untyped-def]
    return sign_off(
        world.session,
        user=user or world.anna,
        client_id=world.client.id,
        moment_key=moment.key,
        outcome=kw.pop("outcome", "given"),
        source="t",
        now=now,
        **kw,
    )


def _facts(world: World, m) -> CheckFacts:  # type: ignore[no-untyped-def]
    return CheckFacts(
        client_id=world.client.id,
        medication_key=m.medication_key,
        amount=m.dose_value,
        moment_key=m.key,
    )


def test_sign_off_is_refused_until_changes_are_acknowledged(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    m = _moment(world, "Metoprolol 50mg")
    assert not m.list_acknowledged
    with pytest.raises(SignOffRefused, match="acknowledge the changes"):
        _sign(world, m)
    world.ack(world.anna, stored.version.id)
    view = _sign(world, m)
    assert view.status == "given"
    assert view.amount == Decimal("1")
    # A new version needs a new acknowledgement before the next sign-off.
    world.store(
        [item("a", "Metoprolol 50mg", dose="2")], at=datetime(2026, 3, 21, 10, 0, tzinfo=UTC)
    )
    evening = moments_for(
        world.session,
        user=world.anna,
        day=date(2026, 3, 22),
        source="t",
        now=datetime(2026, 3, 22, 7, 0, tzinfo=UTC),
    )[0]
    with pytest.raises(SignOffRefused, match="version 2"):
        _sign(world, evening, now=datetime(2026, 3, 22, 7, 0, tzinfo=UTC))


def test_a_moment_is_signed_once_then_only_corrected(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    world.ack(world.anna, stored.version.id)
    m = _moment(world, "Metoprolol 50mg")
    first = _sign(world, m)
    with pytest.raises(SignOffRefused, match="already signed"):
        _sign(world, m)
    fix = correct_administration(
        world.session,
        user=world.anna,
        administration_id=first.id,
        outcome="not_given",
        reason_code="406149000",
        source="t",
        now=AT_0805 + timedelta(minutes=10),
    )
    assert fix.corrects_id == first.id
    assert fix.status == "not_given"
    with pytest.raises(SignOffRefused, match="already corrected"):
        correct_administration(
            world.session,
            user=world.anna,
            administration_id=first.id,
            outcome="entered_in_error",
            source="t",
            now=AT_0805,
        )
    original = world.session.get(Administration, first.id)
    assert original is not None
    assert original.outcome == "given"
    assert _moment(world, "Metoprolol 50mg").status == "not_given"


def test_not_given_needs_an_mp9_reason(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    world.ack(world.anna, stored.version.id)
    m = _moment(world, "Metoprolol 50mg")
    with pytest.raises(SignOffRefused, match="MP9 reason"):
        _sign(world, m, outcome="not_given")
    with pytest.raises(SignOffRefused, match="needs a text"):
        _sign(world, m, outcome="not_given", reason_code="other")
    view = _sign(world, m, outcome="not_given", reason_code="153241000146104")
    assert view.status == "not_given"
    assert view.amount is None


def test_high_risk_loose_item_awaits_a_second_different_qualified_person(world: World) -> None:
    m = _insulin(world)
    assert m.double_check_required
    assert m.risk == "insulin"
    rec = _sign(world, m)
    assert rec.status == "awaiting_check"
    later = AT_0805 + timedelta(minutes=2)
    with pytest.raises(SignOffRefused, match="different person"):
        decide_check(
            world.session,
            checker=world.anna,
            administration_id=rec.id,
            decision="confirm",
            seen=_facts(world, m),
            method="same_device",
            source="t",
            now=later,
        )
    with pytest.raises(SignOffRefused, match="qualification"):
        decide_check(
            world.session,
            checker=world.cees,
            administration_id=rec.id,
            decision="confirm",
            seen=_facts(world, m),
            method="same_device",
            source="t",
            now=later,
        )
    with pytest.raises(NotFoundError):
        decide_check(
            world.session,
            checker=world.dirk,
            administration_id=rec.id,
            decision="confirm",
            seen=_facts(world, m),
            method="same_device",
            source="t",
            now=later,
        )
    wrong = CheckFacts(
        client_id=world.client.id,
        medication_key=m.medication_key,
        amount=Decimal("80"),
        moment_key=m.key,
    )
    with pytest.raises(SignOffRefused, match="dose"):
        decide_check(
            world.session,
            checker=world.bram,
            administration_id=rec.id,
            decision="confirm",
            seen=wrong,
            method="same_device",
            source="t",
            now=later,
        )
    assert _moment(world, m.medication_name, now=later).status == "awaiting_check"
    done = decide_check(
        world.session,
        checker=world.bram,
        administration_id=rec.id,
        decision="confirm",
        seen=_facts(world, m),
        method="same_device",
        source="t",
        now=later,
    )
    assert done.administration.status == "given"
    assert done.alert is None
    with pytest.raises(SignOffRefused, match="already checked"):
        decide_check(
            world.session,
            checker=world.bram,
            administration_id=rec.id,
            decision="reject",
            seen=_facts(world, m),
            method="same_device",
            source="t",
            remark="x",
            now=later,
        )


def test_remote_check_needs_a_request_and_shows_in_the_inbox(world: World) -> None:
    m = _insulin(world)
    rec = _sign(world, m)
    later = AT_0805 + timedelta(minutes=3)
    with pytest.raises(SignOffRefused, match="no remote check"):
        decide_check(
            world.session,
            checker=world.bram,
            administration_id=rec.id,
            decision="confirm",
            seen=_facts(world, m),
            method="remote",
            source="t",
            now=later,
        )
    with pytest.raises(SignOffRefused, match="only the person"):
        request_check(
            world.session, user=world.bram, administration_id=rec.id, source="t", now=later
        )
    request_check(world.session, user=world.anna, administration_id=rec.id, source="t", now=later)
    assert [
        r.administration.id
        for r in check_inbox(world.session, user=world.bram, source="t", now=later)
    ] == [rec.id]
    assert check_inbox(world.session, user=world.anna, source="t", now=later) == []
    assert check_inbox(world.session, user=world.cees, source="t", now=later) == []
    assert check_inbox(world.session, user=world.dirk, source="t", now=later) == []
    out = decide_check(
        world.session,
        checker=world.bram,
        administration_id=rec.id,
        decision="reject",
        seen=_facts(world, m),
        method="remote",
        source="t",
        remark="wrong pen",
        now=later,
    )
    assert out.administration.status == "check_rejected"
    assert out.alert is not None
    assert out.alert.kind == "etrs.check_rejected"
    assert out.alert.team_id == world.team.id
    assert check_inbox(world.session, user=world.bram, source="t", now=later) == []


def test_check_window_expiry_is_refused_and_surfaces_as_alert(world: World) -> None:
    m = _insulin(world)
    rec = _sign(world, m)
    late = AT_0805 + timedelta(minutes=61)
    with pytest.raises(SignOffRefused, match="window"):
        decide_check(
            world.session,
            checker=world.bram,
            administration_id=rec.id,
            decision="confirm",
            seen=_facts(world, m),
            method="same_device",
            source="t",
            now=late,
        )
    assert _moment(world, m.medication_name, now=late).status == "check_expired"
    alerts = overdue_decisions(world.session, now=late)
    assert [(a.kind, a.dedup_key) for a in alerts if a.client_id == world.client.id] == [
        ("etrs.check_missing", f"check:{rec.id}")
    ]


def test_unclassified_loose_item_needs_a_check_until_classified(world: World) -> None:
    from etrs.lists import set_product_class

    stored = world.store([item("x", "Onbekend middel", in_gds=False, gpk="1234567")])
    world.ack(world.anna, stored.version.id)
    m = _moment(world, "Onbekend middel")
    assert m.double_check_required
    assert m.risk == "unclassified"
    set_product_class(
        world.session,
        user=world.pia,
        code_system="gpk",
        code="1234567",
        risk_class="none",
        source="t",
        now=T0,
    )
    m = _moment(world, "Onbekend middel")
    assert not m.double_check_required
    assert _sign(world, m).status == "given"
    with pytest.raises(PermissionError):
        set_product_class(
            world.session,
            user=world.anna,
            code_system="gpk",
            code="1",
            risk_class="opioid",
            source="t",
        )


def test_overdue_moments_become_alert_decisions(world: World) -> None:
    stored = world.store(
        [
            item("a", "Metoprolol 50mg"),
            item("b", "Levodopa 125mg", exact_time=True),
            item("c", "Baxterrol ochtend", dispenser_managed=True),
        ]
    )
    world.ack(world.anna, stored.version.id)
    at_0820 = datetime(2026, 3, 21, 7, 20, tzinfo=UTC)
    names = {a.title for a in overdue_decisions(world.session, now=at_0820)}
    assert names == {"Medication not signed off: Levodopa 125mg 08:00"}
    at_0910 = datetime(2026, 3, 21, 8, 10, tzinfo=UTC)
    _sign(world, _moment(world, "Metoprolol 50mg"), now=at_0910)
    kinds = {
        (a.kind, a.title)
        for a in overdue_decisions(world.session, now=at_0910)
        if a.client_id == world.client.id
    }
    assert kinds == {("etrs.moment_overdue", "Medication not signed off: Levodopa 125mg 08:00")}


def test_records_are_append_only_in_orm_and_database(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    world.ack(world.anna, stored.version.id)
    view = _sign(world, _moment(world, "Metoprolol 50mg"))
    for sql in (
        "UPDATE etrs_administrations SET amount = 5 WHERE id = :id",
        "DELETE FROM etrs_administrations WHERE id = :id",
        "UPDATE etrs_list_items SET dose_value = 9 WHERE version_id = :v",
        "DELETE FROM etrs_list_versions WHERE id = :v",
        "UPDATE etrs_list_acks SET user_id = user_id WHERE version_id = :v",
    ):
        nested = world.session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            world.session.execute(text(sql), {"id": view.id, "v": stored.version.id})
        nested.rollback()
    with pytest.raises(AppendOnlyViolation):
        world.session.execute(update(Administration).values(amount=Decimal("5")))
    with pytest.raises(AppendOnlyViolation):
        world.session.execute(delete(Administration).where(Administration.id == view.id))
    rec = world.session.get(Administration, view.id)
    assert rec is not None
    assert rec.amount == Decimal("1")
    rec.amount = Decimal("5")
    with pytest.raises(AppendOnlyViolation):
        world.session.flush()


def test_a_list_changed_mid_day_signs_each_moment_against_the_version_then_in_force(
    world: World,
) -> None:
    first = world.store([item("a", "Metoprolol 50mg", times=("08:00", "20:00"))])
    world.ack(world.anna, first.version.id)
    # version 2 arrives at 12:00 local: the 08:00 moment stays on version 1
    second = world.store(
        [item("a", "Metoprolol 50mg", times=("08:00", "20:00"), dose="2")],
        at=datetime(2026, 3, 21, 11, 0, tzinfo=UTC),
    )
    evening_now = datetime(2026, 3, 21, 19, 5, tzinfo=UTC)  # 20:05 CET
    moments = moments_for(world.session, user=world.anna, day=DAY, source="t", now=evening_now)
    morning, evening = sorted(moments, key=lambda m: m.planned_at)
    assert (morning.version_id, evening.version_id) == (first.version.id, second.version.id)
    assert (morning.list_acknowledged, evening.list_acknowledged) == (True, False)
    view = _sign(world, morning, now=evening_now)
    assert view.version_id == first.version.id
    assert view.amount == Decimal("1")
    with pytest.raises(SignOffRefused, match="version 2"):
        _sign(world, evening, now=evening_now)
    world.ack(world.anna, second.version.id)
    view = _sign(world, evening, now=evening_now)
    assert (view.version_id, view.amount) == (second.version.id, Decimal("2"))
    with pytest.raises(SignOffRefused, match="already signed off"):
        _sign(world, evening, now=evening_now)
    with pytest.raises(NotFoundError):
        sign_off(
            world.session,
            user=world.anna,
            client_id=world.client.id,
            moment_key=evening.key.replace("T20:00", "T21:00"),
            outcome="given",
            source="t",
            now=evening_now,
        )


def test_the_round_classifies_each_item_as_the_single_item_rules_do(world: World) -> None:
    from etrs.lists import classify_item, import_product_classes_csv, item_needs_double_check
    from etrs.models import ListItem
    from etrs.risk import RiskPolicy

    world.store(
        [
            item("t", "Oxycodon 5mg", gpk="5551", in_gds=False),  # product table: opioid
            item("g", "Fentanyl 12mcg", gpk="5552"),  # product table: opioid, in the roll
            item("n", "Paracetamol 500mg", gpk="5553", in_gds=False),  # table: none
            item("i", "Insuline 100E/ml", gpk="5554", atc="A10AB05", in_gds=False),
            item("u", "Onbekend 1mg", gpk="5555", in_gds=False),  # nobody classified it
            item("s", "Metoprolol 50mg", gpk="5556", atc="C07AB02", in_gds=False),
        ]
    )
    import_product_classes_csv(
        world.session,
        user=world.pia,
        source="t",
        text="code_system,code,class\ngpk,5551,opioid\ngpk,5552,opioid\ngpk,5553,none\n",
    )
    for policy in (RiskPolicy(), RiskPolicy(high_risk_in_gds_needs_check=True)):
        moments = moments_for(
            world.session,
            user=world.anna,
            day=DAY,
            source="t",
            now=AT_0805,
            policy=EtrsPolicy(risk=policy),
        )
        assert len(moments) == 6
        for m in moments:
            it = world.session.get(ListItem, m.item_id)
            assert it is not None
            c = classify_item(world.session, it, policy)
            assert m.risk == (c.risk_class or c.status), m.medication_name
            assert m.double_check_required == item_needs_double_check(world.session, it, policy), (
                m.medication_name
            )
        by_name = {m.medication_name: m for m in moments}
        assert by_name["Oxycodon 5mg"].double_check_required
        assert by_name["Fentanyl 12mcg"].double_check_required == (
            policy.high_risk_in_gds_needs_check
        )
        assert not by_name["Paracetamol 500mg"].double_check_required
        assert by_name["Onbekend 1mg"].risk == "unclassified"
    world.ack(world.anna, moments[0].version_id)
    fentanyl = by_name["Fentanyl 12mcg"]
    strict = EtrsPolicy(risk=RiskPolicy(high_risk_in_gds_needs_check=True))
    view = sign_off(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        moment_key=fentanyl.key,
        outcome="given",
        source="t",
        now=AT_0805,
        policy=strict,
    )
    assert view.double_check_required
    assert view.status == "awaiting_check"
    view = _sign(world, by_name["Metoprolol 50mg"])  # default policy, loose, not high-risk
    assert not view.double_check_required
