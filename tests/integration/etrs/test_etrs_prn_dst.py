"""PRN maximum per 24 hours and DST days on the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from etrs_world import T0, World, item

from etrs.drafts import Dose, ItemDraft, ProductCodes, Schedule
from etrs.service import SignOffRefused, correct_administration, give_prn, moments_for, sign_off


def _prn(world: World) -> str:
    stored = world.store(
        [
            ItemDraft(
                source_id="p",
                medication_name="Paracetamol 500mg",
                codes=ProductCodes(gpk="2345"),
                dose=Dose(value=Decimal(1), unit="stuk"),
                prn=True,
                prn_indication="pijn",
                prn_max_per_24h=Decimal(3),
                in_gds=False,
                schedule=Schedule(),
                high_risk_flag=False,
            ),
        ]
    )
    world.ack(world.anna, stored.version.id)
    return stored.version.id


def _give(world: World, at: datetime, amount: str = "1"):  # type: ignore[no-untyped-def]
    from etrs.lists import items_of

    version_id = _prn_version(world)
    item_id = items_of(world.session, version_id=version_id)[0].id
    return give_prn(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        item_id=item_id,
        amount=Decimal(amount),
        reason="hoofdpijn",
        source="t",
        actual_at=at,
        now=at + timedelta(minutes=1),
    )


def _prn_version(world: World) -> str:
    from etrs.lists import latest_version

    v = latest_version(world.session, client_id=world.client.id)
    assert v is not None
    return v.id


def test_prn_maximum_per_24_hours_is_enforced(world: World) -> None:
    _prn(world)
    start = T0 + timedelta(hours=2)
    for h in (0, 4, 8):
        assert _give(world, start + timedelta(hours=h)).prn_reason == "hoofdpijn"
    with pytest.raises(SignOffRefused, match="maximum 3"):
        _give(world, start + timedelta(hours=23, minutes=59))
    # 24 h after the first dose, the window holds two doses again.
    assert _give(world, start + timedelta(hours=24)).status == "given"


def test_backdated_prn_dose_cannot_overfill_a_later_window(world: World) -> None:
    _prn(world)
    start = T0 + timedelta(hours=10)
    _give(world, start)
    _give(world, start + timedelta(hours=1), amount="2")
    # Earlier than both, but within 24 h of them: 1 + 1 + 2 > 3.
    with pytest.raises(SignOffRefused, match="exceeded"):
        _give(world, start - timedelta(hours=3))


def test_a_corrected_prn_dose_no_longer_counts(world: World) -> None:
    _prn(world)
    start = T0 + timedelta(hours=2)
    wrong = _give(world, start, amount="3")
    with pytest.raises(SignOffRefused):
        _give(world, start + timedelta(hours=1))
    correct_administration(
        world.session,
        user=world.anna,
        administration_id=wrong.id,
        outcome="entered_in_error",
        source="t",
        now=start + timedelta(hours=1),
    )
    assert _give(world, start + timedelta(hours=2)).status == "given"


def test_a_0230_moment_on_the_spring_dst_day_happens_once_at_0330_cest(world: World) -> None:
    stored = world.store([item("a", "Nachtmedicatie", times=("02:30", "08:00"))])
    world.ack(world.anna, stored.version.id)
    day = date(2026, 3, 29)
    now = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    ms = moments_for(world.session, user=world.anna, day=day, source="t", now=now)
    assert [(m.time, m.planned_at, m.dst) for m in ms] == [
        ("02:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "dst_gap"),
        ("08:00", datetime(2026, 3, 29, 6, 0, tzinfo=UTC), "normal"),
    ]
    signed = sign_off(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        moment_key=ms[0].key,
        outcome="given",
        source="t",
        now=now,
    )
    assert signed.planned_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_0230_moment_on_the_autumn_dst_day_happens_once_at_its_first_occurrence(
    world: World,
) -> None:
    stored = world.store([item("a", "Nachtmedicatie", times=("02:30",))])
    world.ack(world.anna, stored.version.id)
    ms = moments_for(
        world.session,
        user=world.anna,
        day=date(2026, 10, 25),
        source="t",
        now=datetime(2026, 10, 25, 7, 0, tzinfo=UTC),
    )
    assert [(m.planned_at, m.dst) for m in ms] == [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "dst_ambiguous")
    ]
