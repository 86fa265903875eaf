"""Engine inputs (events and status changes with the hub's registry knowledge) and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from devices.envelope import Envelope
from devices.kinds import Kind


class Rule(StrEnum):
    """Rule names; the first six equal the simulator's incident types."""

    FALL = "fall"
    NIGHT_EXIT = "night_exit"
    NOT_UP = "not_up"
    NOT_EATING = "not_eating"
    MISSED_DOSE = "missed_dose"
    DEVICE_OFFLINE = "device_offline"
    BATTERY_LOW = "battery_low"
    NIGHT_RESTLESS = "night_restless"


class Severity(StrEnum):
    """How urgently a human must look."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK: dict[Severity, int] = {
    Severity.LOW: 0,
    Severity.MEDIUM: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """A stored device event plus what the hub's registry knows about its device."""

    home_id: str
    client_id: str
    device_id: str
    kind: Kind
    envelope: Envelope
    # Event time (the device's clock), in UTC, computed once: the rules read it many
    # times per event. UTC because Python compares two datetimes sharing a tzinfo object
    # by wall clock, which is wrong across a DST change.
    ts: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", self.envelope.ts.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A device's retained online/offline status (offline is its MQTT Last Will).

    "unreadable": the device sent a message the hub could not parse (dead-lettered); what
    it said is lost, so the state it reports (a bed's occupancy) is unknown until its next
    readable event.
    """

    home_id: str
    client_id: str
    device_id: str
    kind: Kind
    state: Literal["online", "offline", "unreadable"]
    at: datetime
    ts: datetime = field(init=False, repr=False, compare=False)  # `at` in UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", self.at.astimezone(UTC))


EngineInput = EngineEvent | StatusChange


@dataclass(frozen=True, slots=True)
class AlertDecision:
    """The engine's verdict: raise (or repeat) an alert for a client."""

    home_id: str
    client_id: str
    rule: Rule
    severity: Severity
    raised_at: datetime  # event time at which the rule fired
    subject: str | None = None  # device id, dose id, ... when the rule is about one thing
    detail: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        """The replay/JSONL form."""
        return {
            "home_id": self.home_id,
            "client_id": self.client_id,
            "rule": self.rule.value,
            "severity": self.severity.value,
            "raised_at": self.raised_at.isoformat(),
            "subject": self.subject,
            "detail": self.detail,
        }
