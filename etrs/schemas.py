"""API shapes of the eTRS (pydantic v2): input models forbid unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# MP9 reasons for deviation ("reden afwijking"), SNOMED CT; "other" needs a text.
NOT_GIVEN_REASONS: dict[str, str] = {
    "406149000": "refused by client",
    "153241000146104": "client not available",
    "153221000146105": "carer not available",
    "152741000146103": "spat out",
    "705046008": "insufficient stock",
    "274512008": "therapy stopped",
    "other": "other (see text)",
}
# MP9: the corrected registration was wrong ("onjuiste registratie").
WRONG_REGISTRATION_CODE = "159691000146109"

MomentStatus = Literal[
    "open",
    "overdue",
    "given",
    "not_given",
    "awaiting_check",
    "check_rejected",
    "check_expired",
    "entered_in_error",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CheckView(_Out):
    """A double-check decision."""

    id: str
    checker_id: str
    decision: Literal["confirm", "reject"]
    method: str
    checked_at: datetime
    remark: str | None


class AdministrationView(_Out):
    """One administration record with its derived status."""

    id: str
    client_id: str
    item_id: str
    version_id: str
    medication_key: str
    medication_name: str
    moment_key: str | None
    planned_at: datetime | None
    outcome: str
    given_by: str
    prn: bool
    prn_reason: str | None
    actual_at: datetime | None
    amount: Decimal | None
    amount_unit: str | None
    reason_code: str | None
    reason_text: str | None
    double_check_required: bool
    recorded_by: str
    recorded_at: datetime
    corrects_id: str | None
    corrected_by_id: str | None
    check: CheckView | None
    status: MomentStatus


class MomentView(_Out):
    """An administration moment of a day with its current state."""

    key: str
    client_id: str
    client_name: str
    version_id: str
    version_no: int
    item_id: str
    medication_key: str
    medication_name: str
    dose: str | None
    dose_value: Decimal | None
    dose_unit: str | None
    route: str | None
    instructions: str | None
    day: date
    time: str
    planned_at: datetime
    dst: str
    time_assumed: bool
    exact_time: bool
    dispenser_managed: bool
    double_check_required: bool
    risk: str
    list_acknowledged: bool
    status: MomentStatus
    administration: AdministrationView | None


class EtrsAlert(_Out):
    """A decision for the alert pipeline (plain data; hub.alerts routes it)."""

    kind: Literal[
        "etrs.moment_overdue", "etrs.check_missing", "etrs.check_rejected", "etrs.dose_missed"
    ]
    client_id: str
    team_id: str | None
    dedup_key: str
    severity: Literal["low", "medium", "high"]
    title: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)
    follow_up: str | None = None


class CheckRequestView(_Out):
    """An open request for a remote double check."""

    id: str
    administration: AdministrationView
    requested_by: str
    requested_at: datetime
    to_user_id: str | None
    expires_at: datetime


# --- input ---------------------------------------------------------------------------------


class SignOffIn(_In):
    """Sign off a planned moment."""

    client_id: str
    moment_key: str
    outcome: Literal["given", "not_given"]
    actual_at: AwareDatetime | None = None
    amount: Decimal | None = Field(default=None, gt=0)
    reason_code: str | None = None
    reason_text: str | None = Field(default=None, max_length=2000)


class PrnIn(_In):
    """Record an as-needed (PRN) administration."""

    client_id: str
    item_id: str
    amount: Decimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=2000)
    actual_at: AwareDatetime | None = None


class CorrectionIn(_In):
    """Correct an earlier record (a new record pointing at it)."""

    outcome: Literal["given", "not_given", "entered_in_error"]
    actual_at: AwareDatetime | None = None
    amount: Decimal | None = Field(default=None, gt=0)
    reason_code: str | None = None
    reason_text: str | None = Field(default=None, max_length=2000)


class CheckFacts(_In):
    """What the second person verified: client, medication, dose and moment."""

    client_id: str
    medication_key: str
    amount: Decimal | None = None
    moment_key: str | None = None


class CheckDecisionIn(_In):
    """A remote double-check decision by the signed-in user."""

    decision: Literal["confirm", "reject"]
    seen: CheckFacts
    remark: str | None = Field(default=None, max_length=2000)


class SameDeviceCheckIn(CheckDecisionIn):
    """A double check on the same tablet: the second person re-authenticates."""

    username: str
    password: str


class CheckRequestIn(_In):
    """Ask a colleague (or any qualified colleague) for a remote double check."""

    to_user_id: str | None = None


class AcknowledgeIn(_In):
    """Acknowledge the changes of a list version."""

    version_id: str
