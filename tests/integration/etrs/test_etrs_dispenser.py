"""Dispenser link: dose plan from the list; taken -> records by the dispenser; missed -> alert."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from etrs_world import World, item
from sqlalchemy import select

from devices.payloads import DoseMissed, DoseTaken
from etrs.dispenser import (
    DispenserMismatch,
    dose_plan_for_client,
    handle_dose_missed,
    handle_dose_taken,
)
from etrs.models import Administration
from etrs.service import moments_for, overdue_decisions
from hub.store.models import Device

SCHEDULED = datetime(2026, 3, 21, 7, 0, tzinfo=UTC)  # 08:00 CET
TAKEN = datetime(2026, 3, 21, 7, 12, tzinfo=UTC)


def _list(world: World):  # type: ignore[no-untyped-def]
    stored = world.store(
        [
            item("a", "Metformine 500mg", times=("08:00", "18:00"), dispenser_managed=True),
            item("b", "Amlodipine 5mg", times=("08:00",), dispenser_managed=True),
            item("c", "Oogdruppels", times=("08:00",), in_gds=False, high_risk_flag=False),
        ]
    )
    world.ack(world.anna, stored.version.id)
    return stored.version


def test_dose_plan_has_one_pouch_per_moment_of_dispenser_items(world: World) -> None:
    version = _list(world)
    plan = dose_plan_for_client(world.session, client_id=world.client.id)
    assert plan.version == 1
    assert [(d.dose_id, d.time) for d in plan.doses] == [
        (f"{version.id}:0800", "08:00"),
        (f"{version.id}:1800", "18:00"),
    ]
    assert "Oogdruppels" not in plan.doses[0].label


def test_taken_dose_becomes_records_given_by_dispenser_once(world: World) -> None:
    version = _list(world)
    taken = DoseTaken(dose_id=f"{version.id}:0800", scheduled_for=SCHEDULED, taken_at=TAKEN)
    out = handle_dose_taken(
        world.session, device_id=world.dispenser.id, event_id="ev-1", data=taken, now=TAKEN
    )
    assert sorted(r.given_by for r in out.records) == ["dispenser", "dispenser"]
    assert {r.actual_at for r in out.records} == {TAKEN}
    again = handle_dose_taken(
        world.session, device_id=world.dispenser.id, event_id="ev-1", data=taken, now=TAKEN
    )
    assert again.records == []
    count = len(
        list(
            world.session.scalars(
                select(Administration).where(Administration.client_id == world.client.id)
            )
        )
    )
    assert count == 2
    states = {
        m.medication_name: m.status
        for m in moments_for(
            world.session, user=world.anna, day=date(2026, 3, 21), source="t", now=TAKEN
        )
        if m.time == "08:00"
    }
    assert states == {"Metformine 500mg": "given", "Amlodipine 5mg": "given", "Oogdruppels": "open"}


def test_missed_dose_is_an_alert_and_not_a_duplicate_overdue(world: World) -> None:
    version = _list(world)
    missed = DoseMissed(dose_id=f"{version.id}:0800", scheduled_for=SCHEDULED, window_min=45)
    out = handle_dose_missed(
        world.session, device_id=world.dispenser.id, event_id="ev-2", data=missed, now=TAKEN
    )
    assert out.records == []
    assert out.alert is not None
    assert out.alert.kind == "etrs.dose_missed"
    assert out.alert.team_id == world.team.id
    assert out.alert.follow_up
    assert sorted(out.alert.detail["medications"]) == ["Amlodipine 5mg", "Metformine 500mg"]
    late = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
    overdue = [
        a.title
        for a in overdue_decisions(world.session, now=late)
        if a.client_id == world.client.id
    ]
    assert overdue == ["Medication not signed off: Oogdruppels 08:00"]


def test_a_device_in_another_home_cannot_sign_for_the_client(world: World) -> None:
    version = _list(world)
    stray = Device(
        id=world.dispenser.id + "-x",
        kind="dispenser",
        home_id=None,
        label="",
        status="online",
        password_hash="x",
        created_at=SCHEDULED,
    )
    world.session.add(stray)
    world.session.flush()
    taken = DoseTaken(dose_id=f"{version.id}:0800", scheduled_for=SCHEDULED, taken_at=TAKEN)
    with pytest.raises(DispenserMismatch):
        handle_dose_taken(world.session, device_id=stray.id, event_id="ev-3", data=taken, now=TAKEN)
