"""API shapes of robot schedules, their delivery status and the robot timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.payloads import ClockTime
from hub.robots.schedule import Recurrence

Weekday = Annotated[int, Field(ge=1, le=7)]


class MessageIn(BaseModel):
    """A message to add or replace: what the robot says, when, and whether it asks."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000, description="What the robot says")
    at: ClockTime
    recurrence: Recurrence = Field(description="once (on `on`), daily, or on `weekdays`")
    weekdays: list[Weekday] | None = Field(None, description="ISO weekdays, 1 = Monday")
    on: date | None = Field(None, description="Date of a one-off message")
    question: bool = Field(False, description="A yes/no question the resident answers")
    repeat_if_unanswered_min: int | None = Field(
        None, ge=1, le=240, description="Ask again after this many minutes without an answer"
    )

    @model_validator(mode="after")
    def _consistent(self) -> MessageIn:
        if self.recurrence is Recurrence.WEEKDAYS:
            if not self.weekdays:
                raise ValueError("recurrence 'weekdays' needs at least one weekday")
            self.weekdays = sorted(set(self.weekdays))
        elif self.weekdays is not None:
            raise ValueError("weekdays are only for recurrence 'weekdays'")
        if (self.recurrence is Recurrence.ONCE) != (self.on is not None):
            raise ValueError("`on` is required for, and only for, recurrence 'once'")
        if self.repeat_if_unanswered_min is not None and not self.question:
            raise ValueError("only a question can be repeated when unanswered")
        return self


class MessageOut(BaseModel):
    """A scheduled message."""

    id: str
    text: str
    at: str
    recurrence: Recurrence
    weekdays: list[int] | None
    on: date | None
    question: bool
    repeat_if_unanswered_min: int | None
    created_by_role: str
    created_at: datetime
    updated_at: datetime


DeliveryState = Literal["no_robot", "unpublished", "pending", "confirmed", "rejected"]


class ScheduleStatusOut(BaseModel):
    """Whether the robot has the current schedule."""

    client_id: str
    version: int
    published_version: int | None
    acked_version: int | None
    device_id: str | None
    robot_status: str | None
    state: DeliveryState
    error: str | None


class ScheduleOut(BaseModel):
    """The client's schedule with its delivery status."""

    status: ScheduleStatusOut
    messages: list[MessageOut]


EntryState = Literal[
    "upcoming",
    "due",
    "spoken",
    "answered_yes",
    "answered_no",
    "no_answer",
    "missed: robot offline",
    "missed",
]


class TimelineEntryOut(BaseModel):
    """One message moment of the day and what happened."""

    message_id: str
    scheduled_for: datetime
    text: str
    question: bool
    state: EntryState
    spoken_at: datetime | None
    times_spoken: int
    answer: str | None
    answered_at: datetime | None


class TimelineOut(BaseModel):
    """The client's robot day."""

    client_id: str
    day: date
    entries: list[TimelineEntryOut]
