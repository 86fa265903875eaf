"""Device kinds: which event types each kind may publish, and how often it must be heard."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from devices import payloads as p


class Kind(StrEnum):
    """The device kinds of the product."""

    MOTION = "motion"
    DOOR = "door"
    OCCUPANCY = "occupancy"
    DISPENSER = "dispenser"
    ROBOT = "robot"


class Power(StrEnum):
    """Power class: decides heartbeat interval and offline timeout."""

    MAINS = "mains"
    BATTERY = "battery"


# Event type -> payload schema. The type is the last topic level and the envelope `type`.
EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    "motion": p.Motion,
    "contact": p.Contact,
    "occupancy": p.Occupancy,
    "dose.due": p.DoseDue,
    "dose.reminder": p.DoseReminder,
    "dose.taken": p.DoseTaken,
    "dose.missed": p.DoseMissed,
    "refill.low": p.RefillLow,
    "message.spoken": p.MessageSpoken,
    "question.answered": p.QuestionAnswered,
    "heartbeat": p.Heartbeat,
    "battery": p.Battery,
}

COMMAND_SCHEMAS: dict[str, type[BaseModel]] = {
    "dose_plan": p.DosePlan,
    "schedule": p.RobotSchedule,
}


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What a kind of device does on the wire."""

    kind: Kind
    power: Power
    events: frozenset[str]
    commands: frozenset[str]
    heartbeat_s: int
    offline_after_s: int  # no message for this long -> device offline (rules)


_COMMON_BATTERY = frozenset({"heartbeat", "battery"})

KINDS: dict[Kind, KindSpec] = {
    Kind.MOTION: KindSpec(
        Kind.MOTION,
        Power.BATTERY,
        frozenset({"motion"}) | _COMMON_BATTERY,
        frozenset(),
        3600,
        3 * 3600,
    ),
    Kind.DOOR: KindSpec(
        Kind.DOOR,
        Power.BATTERY,
        frozenset({"contact"}) | _COMMON_BATTERY,
        frozenset(),
        3600,
        3 * 3600,
    ),
    Kind.OCCUPANCY: KindSpec(
        Kind.OCCUPANCY,
        Power.BATTERY,
        frozenset({"occupancy"}) | _COMMON_BATTERY,
        frozenset(),
        3600,
        3 * 3600,
    ),
    Kind.DISPENSER: KindSpec(
        Kind.DISPENSER,
        Power.MAINS,
        frozenset(
            {"dose.due", "dose.reminder", "dose.taken", "dose.missed", "refill.low", "heartbeat"}
        ),
        frozenset({"dose_plan"}),
        300,
        15 * 60,
    ),
    Kind.ROBOT: KindSpec(
        Kind.ROBOT,
        Power.MAINS,
        frozenset({"message.spoken", "question.answered", "heartbeat"}),
        frozenset({"schedule"}),
        300,
        15 * 60,
    ),
}

DEVICE_ID_PREFIX: dict[Kind, str] = {
    Kind.MOTION: "mot",
    Kind.DOOR: "dor",
    Kind.OCCUPANCY: "occ",
    Kind.DISPENSER: "dsp",
    Kind.ROBOT: "rbt",
}
