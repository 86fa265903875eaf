"""Per-event-type payload schemas (the `data` of an envelope) and command/status/ack bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base for contract models: unknown fields are an error, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Room(StrEnum):
    """Rooms a PIR sensor can watch."""

    BEDROOM = "bedroom"
    BATHROOM = "bathroom"
    TOILET = "toilet"
    KITCHEN = "kitchen"
    LIVING_ROOM = "living_room"
    HALLWAY = "hallway"


class Door(StrEnum):
    """What a door contact is mounted on."""

    FRONT_DOOR = "front_door"
    BACK_DOOR = "back_door"
    FRIDGE = "fridge"


class Place(StrEnum):
    """What an occupancy sensor is under."""

    BED = "bed"
    CHAIR = "chair"


class Answer(StrEnum):
    """A robot question's answer."""

    YES = "yes"
    NO = "no"
    NO_ANSWER = "no_answer"


DoseId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
MessageId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _utc_representable(value: datetime) -> datetime:
    # 9999-12-31T23:59:59-01:00 is a valid aware datetime, but converting it to UTC (as the
    # store does for every timestamp) overflows; refuse it here, not in the hub's commit.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("datetime is out of range once converted to UTC") from None
    return value


WireDatetime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]
"""An RFC 3339 timestamp with offset that can be converted to UTC."""

ClockTime = Annotated[
    str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, Europe/Amsterdam")
]


# --- events -------------------------------------------------------------------------------


class Motion(Strict):
    """A PIR sensor saw movement."""

    room: Room


class Contact(Strict):
    """A door contact opened or closed."""

    door: Door
    state: Literal["open", "closed"]


class Occupancy(Strict):
    """A bed or chair became occupied or vacant."""

    place: Place
    state: Literal["occupied", "vacant"]


class DoseDue(Strict):
    """The dispenser presents a pouch and starts alarming."""

    dose_id: DoseId
    scheduled_for: WireDatetime


class DoseReminder(Strict):
    """The dispenser repeats its alarm for a dose not yet taken."""

    dose_id: DoseId
    scheduled_for: WireDatetime
    attempt: int = Field(ge=1, le=100)


class DoseTaken(Strict):
    """The resident took the pouch out of the dispenser."""

    dose_id: DoseId
    scheduled_for: WireDatetime
    taken_at: WireDatetime


class DoseMissed(Strict):
    """The dose was not taken within the dispenser's window; the pouch is locked away."""

    dose_id: DoseId
    scheduled_for: WireDatetime
    window_min: int = Field(ge=1, le=24 * 60)


class RefillLow(Strict):
    """The dispenser is running out of pouches."""

    doses_left: int = Field(ge=0, le=10_000)


class MessageSpoken(Strict):
    """The day-structure robot spoke a scheduled message."""

    message_id: MessageId
    schedule_version: int = Field(ge=0)
    scheduled_for: WireDatetime
    text: str = Field(max_length=1000)
    question: bool = False


class QuestionAnswered(Strict):
    """The resident answered (or did not answer) a robot question."""

    message_id: MessageId
    schedule_version: int = Field(ge=0)
    scheduled_for: WireDatetime
    answer: Answer


class Heartbeat(Strict):
    """Periodic sign of life."""

    uptime_s: int = Field(ge=0)
    rssi_dbm: int | None = Field(default=None, ge=-150, le=0)


class Battery(Strict):
    """Battery level report."""

    level_pct: int = Field(ge=0, le=100)


# --- status / ack / commands --------------------------------------------------------------


class Status(Strict):
    """Retained availability; the `offline` form is the device's Last Will."""

    state: Literal["online", "offline"]


class Ack(Strict):
    """A device's acknowledgement of a command."""

    command: str = Field(min_length=1, max_length=63)
    version: int = Field(ge=0)
    ok: bool
    error: str | None = Field(default=None, max_length=500)


class PlannedDose(Strict):
    """One moment in a dispenser's dose plan."""

    dose_id: DoseId
    time: ClockTime
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7], description="ISO weekdays, 1 = Monday"
    )
    label: str = Field(default="", max_length=200)


class DosePlan(Strict):
    """Command `dose_plan`: the dispenser's complete plan (replaces the previous one)."""

    version: int = Field(ge=0)
    window_min: int = Field(default=45, ge=5, le=240)
    reminder_every_min: int = Field(default=15, ge=1, le=120)
    doses: list[PlannedDose] = Field(max_length=200)


class RobotMessage(Strict):
    """One message in a day-structure robot's schedule."""

    message_id: MessageId
    text: str = Field(min_length=1, max_length=1000)
    at: ClockTime
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(
        default=None, description="ISO weekdays; null with `on` unset means daily"
    )
    on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="one-off date")
    question: bool = False
    repeat_if_unanswered_min: int | None = Field(default=None, ge=1, le=240)


class RobotSchedule(Strict):
    """Command `schedule`: the robot's complete message schedule (replaces the previous one)."""

    version: int = Field(ge=0)
    messages: list[RobotMessage] = Field(max_length=500)
