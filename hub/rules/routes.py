"""HTTP API of care plans: read and change a client's monitoring care plan (zorgplan).

Team-scoped like all client data: a client outside the user's teams is answered 404.
Nurses of the client's team may read the plan; team leads of that team and administrators
may change it. A PUT replaces the whole plan (omitted fields take their defaults); a bad
field is answered 422 with its location, e.g. `["body", "rules", "fall"]`.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hub import audit
from hub.auth.deps import CurrentUser, SessionDep, SourceDep
from hub.auth.models import User
from hub.auth.service import CARE_ROLES, can_access_client
from hub.rules.careplan import CarePlan
from hub.rules.service import StoredCarePlan, get_stored_care_plan, save_care_plan

EDITOR_ROLES = frozenset({"team_lead", "admin"})

router = APIRouter(prefix="/api/v1/clients", tags=["care plans"])


class CarePlanOut(BaseModel):
    """A client's care plan and its last change (`updated_at` null: the defaults apply)."""

    client_id: str
    plan: CarePlan
    updated_at: datetime | None = Field(description="Last change; null while defaults apply")
    updated_by: str | None = Field(description="Who made the last change")

    @classmethod
    def of(cls, stored: StoredCarePlan) -> CarePlanOut:
        """From the service's result."""
        return cls(
            client_id=stored.client_id,
            plan=stored.plan,
            updated_at=stored.updated_at,
            updated_by=stored.updated_by,
        )


def _require(session: Session, user: User, client_id: str) -> None:
    # Monitoring plans are care data: pharmacists and family have no business here.
    if user.role not in CARE_ROLES and user.role != "admin":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"client {client_id!r} not found")
    if not can_access_client(session, user, client_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"client {client_id!r} not found")


@router.get("/{client_id}/care-plan", response_model=CarePlanOut)
def read_care_plan(
    client_id: str, session: SessionDep, user: CurrentUser, source: SourceDep
) -> CarePlanOut:
    """The client's care plan: rule switches and parameters (defaults when none is stored)."""
    _require(session, user, client_id)
    stored = get_stored_care_plan(session, client_id=client_id)
    audit.record(
        session,
        actor=user.id,
        action="care_plan.view",
        object_type="care_plan",
        object_id=client_id,
        source=source,
        client_id=client_id,
    )
    return CarePlanOut.of(stored)


@router.put("/{client_id}/care-plan", response_model=CarePlanOut)
def change_care_plan(
    client_id: str,
    plan: CarePlan,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    source: SourceDep,
) -> CarePlanOut:
    """Replace the client's care plan (team lead of the client's team, or administrator)."""
    _require(session, user, client_id)
    if user.role not in EDITOR_ROLES:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only a team lead or an administrator may change it"
        )
    stored = save_care_plan(session, client_id, plan, user.id, source)
    session.commit()
    # The running rule engine picks the new plan up at once (set by the hub's runtime).
    reload = getattr(request.app.state, "care_plan_changed", None)
    if reload is not None:
        reload(client_id)
    return CarePlanOut.of(stored)
