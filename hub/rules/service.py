"""Care plans in the store: read (with defaults) and replace, audit-logged."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hub import audit
from hub.rules.careplan import CarePlan
from hub.rules.models import CarePlanRow


def get_care_plan(session: Session, *, client_id: str) -> CarePlan:
    """The client's care plan; the defaults when none is stored."""
    row = session.get(CarePlanRow, client_id)
    return CarePlan() if row is None else CarePlan.model_validate(row.params)


def set_care_plan(
    session: Session,
    *,
    client_id: str,
    plan: CarePlan,
    actor: str,
    now: datetime | None = None,
) -> CarePlanRow:
    """Replace the client's care plan (the caller commits)."""
    at = now or datetime.now(UTC)
    params = plan.model_dump(mode="json")
    row = session.get(CarePlanRow, client_id)
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
        source="hub.rules",
        client_id=client_id,
        detail=params,
        at=at,
    )
    return row
