"""API schemas of alerts (input models forbid unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Outcome = Literal["real_incident", "false_alarm", "no_action_needed"]
Status = Literal["open", "acknowledged", "resolved"]


class AlertOut(BaseModel):
    """An alert as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    home_id: str | None
    rule: str
    severity: str
    status: Status
    subject: str | None
    detail: dict[str, Any]
    count: int
    first_raised_at: datetime
    last_raised_at: datetime
    created_at: datetime
    updated_at: datetime
    team_id: str | None
    escalation_level: int
    escalated_to: str | None
    next_escalation_at: datetime | None
    snoozed_until: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: Outcome | None
    resolution_note: str | None


class TransitionOut(BaseModel):
    """One step in an alert's history."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    step: int | None
    detail: dict[str, Any]


class ResolveIn(BaseModel):
    """Body of a resolve: was it real?"""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome = Field(description="real incident / false alarm / no action needed")
    note: str | None = Field(None, max_length=2000, description="Free text for the team")


class SnoozeIn(BaseModel):
    """Body of a snooze: until when (or for how many minutes)."""

    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime | None = Field(None, description="Snooze until this instant")
    minutes: int | None = Field(None, ge=1, le=24 * 60, description="Or for this many minutes")


class AlertChangeOut(BaseModel):
    """An alert change as sent on the SSE stream."""

    action: str
    alert: AlertOut
