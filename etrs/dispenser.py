"""Dispenser link: the dose plan from the list, and dispenser events to records/alerts.

A dose id is ``<list version id>:<HHMM>``: one pouch per moment of the day, holding every
dispenser-managed item of that version at that time (the pharmacy packs per moment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.payloads import DoseMissed, DosePlan, DoseTaken, PlannedDose
from etrs.drafts import Schedule
from etrs.lists import item_needs_double_check, items_of, latest_version
from etrs.models import Administration, ListItem, ListVersion
from etrs.schedule import AMSTERDAM
from etrs.schemas import EtrsAlert
from etrs.service import DEFAULT_POLICY, EtrsPolicy, client_moments
from hub import audit
from hub.store.models import Client, Device

ALL_DAYS = [1, 2, 3, 4, 5, 6, 7]


class DispenserMismatch(ValueError):
    """A dispenser event that does not belong to the device's client or plan."""


def dose_id(version_id: str, hhmm: str) -> str:
    """The dose id of a pouch moment."""
    return f"{version_id}:{hhmm.replace(':', '')}"


def parse_dose_id(value: str) -> tuple[str, str]:
    """(version id, HH:MM) of a dose id; DispenserMismatch when malformed."""
    version_id, sep, hhmm = value.rpartition(":")
    if not sep or len(hhmm) != 4 or not hhmm.isdigit():
        raise DispenserMismatch(f"dose id {value!r} is not a carehub dose id")
    return version_id, f"{hhmm[:2]}:{hhmm[2:]}"


def dose_plan_for_client(
    session: Session, *, client_id: str, window_min: int = 45, reminder_every_min: int = 15
) -> DosePlan:
    """The dispenser's plan from the client's current list (dispenser-managed items only)."""
    version = latest_version(session, client_id=client_id)
    if version is None:
        return DosePlan(
            version=0, window_min=window_min, reminder_every_min=reminder_every_min, doses=[]
        )
    by_time: dict[str, tuple[set[int], list[str]]] = {}
    for item in items_of(session, version_id=version.id):
        if not item.dispenser_managed or item.prn or item.stopped:
            continue
        sched = Schedule.model_validate(item.schedule)
        # Interval and cycle schedules cannot be said in weekdays: the pouch moment is
        # planned daily and only days with a pouch produce records (see handle_dose_taken).
        days = set(sched.weekdays) if sched.weekdays and not sched.interval_days else set(ALL_DAYS)
        for hhmm in sched.times_of_day:
            weekdays, names = by_time.setdefault(hhmm, (set(), []))
            weekdays.update(days)
            names.append(item.medication_name)
    doses = [
        PlannedDose(
            dose_id=dose_id(version.id, hhmm),
            time=hhmm,
            weekdays=sorted(weekdays),
            label=", ".join(names)[:200],
        )
        for hhmm, (weekdays, names) in sorted(by_time.items())
    ]
    return DosePlan(
        version=version.version_no,
        window_min=window_min,
        reminder_every_min=reminder_every_min,
        doses=doses,
    )


@dataclass(frozen=True)
class DispenserOutcome:
    """What a dispenser event led to: new administration records and/or an alert."""

    records: list[Administration]
    alert: EtrsAlert | None


def _client_for(session: Session, *, device_id: str, version_id: str) -> tuple[Client, ListVersion]:
    device = session.get(Device, device_id)
    version = session.get(ListVersion, version_id)
    if device is None or version is None:
        raise DispenserMismatch("unknown device or list version")
    client = session.get(Client, version.client_id)
    if client is None or device.home_id is None or client.home_id != device.home_id:
        raise DispenserMismatch("the dose belongs to a client outside this device's home")
    return client, version


def _pouch_items(
    session: Session, *, client: Client, version: ListVersion, hhmm: str, scheduled_for: datetime
) -> list[tuple[str, ListItem, datetime]]:
    day = scheduled_for.astimezone(AMSTERDAM).date()
    return [
        (m.key, m.item, m.planned_at)
        for m in client_moments(session, client_id=client.id, day=day)
        if m.version.id == version.id and m.hhmm == hhmm and m.item.dispenser_managed
    ]


def handle_dose_taken(
    session: Session,
    *,
    device_id: str,
    event_id: str,
    data: DoseTaken,
    now: datetime | None = None,
    policy: EtrsPolicy = DEFAULT_POLICY,
) -> DispenserOutcome:
    """Records 'given by dispenser' for each item in the pouch (idempotent on redelivery)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    version_id, hhmm = parse_dose_id(data.dose_id)
    client, version = _client_for(session, device_id=device_id, version_id=version_id)
    pouch = _pouch_items(
        session, client=client, version=version, hhmm=hhmm, scheduled_for=data.scheduled_for
    )
    keys = [k for k, _, _ in pouch]
    signed = (
        set(
            session.scalars(
                select(Administration.moment_key).where(Administration.moment_key.in_(keys))
            )
        )
        if keys
        else set()
    )
    created: list[Administration] = []
    for key, item, planned_at in pouch:
        if key in signed:
            continue  # already recorded (redelivered event, or a nurse signed first)
        rec = Administration(
            id=uuid.uuid4().hex,
            client_id=client.id,
            version_id=version.id,
            item_id=item.id,
            medication_key=item.medication_key,
            moment_key=key,
            planned_at=planned_at,
            outcome="given",
            given_by="dispenser",
            prn=False,
            prn_reason=None,
            actual_at=data.taken_at.astimezone(UTC),
            amount=Decimal(item.dose_value) if item.dose_value is not None else None,
            amount_unit=item.dose_unit,
            reason_code=None,
            reason_text=None,
            double_check_required=item_needs_double_check(session, item, policy.risk),
            recorded_by=f"dispenser:{device_id}",
            recorded_at=when,
            source=f"mqtt:{device_id}",
            corrects_id=None,
            source_event_id=event_id,
        )
        session.add(rec)
        session.flush()
        audit.record(
            session,
            actor=f"dispenser:{device_id}",
            action="etrs.administration.create",
            object_type="etrs_administration",
            object_id=rec.id,
            client_id=client.id,
            source=f"mqtt:{device_id}",
            detail={
                "outcome": "given",
                "given_by": "dispenser",
                "event_id": event_id,
                "moment_key": key,
            },
            at=when,
        )
        created.append(rec)
    return DispenserOutcome(created, None)


def handle_dose_missed(
    session: Session,
    *,
    device_id: str,
    event_id: str,
    data: DoseMissed,
    now: datetime | None = None,
) -> DispenserOutcome:
    """An alert and a follow-up task for the team; nothing is recorded as given or not given.

    The nurse who follows up signs the moment off (not given + reason, or given), so the
    reason comes from a person, not from a guess.
    """
    when = (now or datetime.now(UTC)).astimezone(UTC)
    version_id, hhmm = parse_dose_id(data.dose_id)
    client, version = _client_for(session, device_id=device_id, version_id=version_id)
    pouch = _pouch_items(
        session, client=client, version=version, hhmm=hhmm, scheduled_for=data.scheduled_for
    )
    alert = EtrsAlert(
        kind="etrs.dose_missed",
        client_id=client.id,
        team_id=client.team_id,
        dedup_key=f"dose:{data.dose_id}:{data.scheduled_for.astimezone(AMSTERDAM).date()}",
        severity="high" if any(item.exact_time for _, item, _ in pouch) else "medium",
        title=f"Dispenser dose not taken ({hhmm})",
        at=when,
        detail={
            "event_id": event_id,
            "device_id": device_id,
            "scheduled_for": data.scheduled_for.isoformat(),
            "moment_keys": [k for k, _, _ in pouch],
            "medications": [item.medication_name for _, item, _ in pouch],
        },
        follow_up="Contact the client, then sign off the moment (given, or not given + reason)",
    )
    return DispenserOutcome([], alert)
