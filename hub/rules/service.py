"""Care plans in the store: read (with defaults) and change, every change audit-logged.

A care plan has one current row per client (`care_plans`); its history is the audit log:
each change stores the whole new plan, the previous one and the changed fields, so who
changed which parameter when is answerable (NEN 7513) even though the row is replaced.
The escalation chain is not part of the care plan: it belongs to the team
(`hub.alerts.models.EscalationStep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub import audit
from hub.rules.careplan import CarePlan
from hub.rules.models import CarePlanRow

SOURCE = "hub.rules"


@dataclass(frozen=True, slots=True)
class StoredCarePlan:
    """A client's care plan with when and by whom it was last changed (None: defaults)."""

    client_id: str
    plan: CarePlan
    updated_at: datetime | None
    updated_by: str | None


def get_care_plan(session: Session, *, client_id: str) -> CarePlan:
    """The client's care plan; the defaults when none is stored."""
    row = session.get(CarePlanRow, client_id)
    return CarePlan() if row is None else CarePlan.model_validate(row.params)


def get_stored_care_plan(session: Session, *, client_id: str) -> StoredCarePlan:
    """The client's care plan with its last change (not audit-logged: the caller does)."""
    row = session.get(CarePlanRow, client_id)
    if row is None:
        return StoredCarePlan(client_id, CarePlan(), None, None)
    return StoredCarePlan(
        client_id, CarePlan.model_validate(row.params), row.updated_at, row.updated_by
    )


def _changed(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two plan dumps."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def save_care_plan(
    session: Session,
    client_id: str,
    plan: CarePlan,
    actor: str,
    source: str = SOURCE,
    *,
    now: datetime | None = None,
) -> StoredCarePlan:
    """Store the client's care plan (the caller commits); the change is audit-logged.

    The audit entry carries the previous and the new plan and the changed fields;
    saving an identical plan is still recorded (someone confirmed it).
    """
    at = now or datetime.now(UTC)
    params = plan.model_dump(mode="json")
    row = session.get(CarePlanRow, client_id)
    before = (
        CarePlan().model_dump(mode="json")
        if row is None
        else CarePlan.model_validate(row.params).model_dump(mode="json")
    )
    if row is None:
        row = CarePlanRow(client_id=client_id, params=params, updated_at=at, updated_by=actor)
        session.add(row)
    else:
        row.params = params
        row.updated_at = at
        row.updated_by = actor
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="care_plan.set",
        object_type="care_plan",
        object_id=client_id,
        source=source,
        client_id=client_id,
        detail={"changed": _changed(before, params), "before": before, "after": params},
        at=at,
    )
    return StoredCarePlan(client_id, plan, at, actor)


def set_care_plan(
    session: Session,
    *,
    client_id: str,
    plan: CarePlan,
    actor: str,
    now: datetime | None = None,
) -> CarePlanRow:
    """Replace the client's care plan (the caller commits); see save_care_plan."""
    save_care_plan(session, client_id, plan, actor, SOURCE, now=now)
    row = session.get(CarePlanRow, client_id)
    assert row is not None
    return row
