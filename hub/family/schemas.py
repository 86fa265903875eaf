"""API shapes of family links, the day overview and notifications."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.robots.schemas import TimelineEntryOut


class NotificationKind(StrEnum):
    """Happenings a family member can choose to be told about (never medication)."""

    NOT_UP = "not_up"
    NOT_EATING = "not_eating"
    FALL = "fall"
    NIGHT_EXIT = "night_exit"
    QUESTION_UNANSWERED = "question_unanswered"
    ROBOT_OFFLINE = "robot_offline"


class LinkIn(BaseModel):
    """What the client (or her representative) allows this family member."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64, description="The family account")
    relation: str = Field("", max_length=100, description="e.g. dochter, zoon, buurvrouw")
    day_overview: bool = Field(True, description="May see the daily traffic light and rhythm")
    robot_messages: bool = Field(False, description="May see and write robot messages")
    notify: list[NotificationKind] = Field(
        default_factory=list, description="Daytime notifications this member receives"
    )


class LinkOut(BaseModel):
    """A family member's link to a client."""

    user_id: str
    client_id: str
    client_name: str
    relation: str
    day_overview: bool
    robot_messages: bool
    notify: list[str]
    created_at: datetime


Light = Literal["normal", "unusual", "alert"]


class HourActivity(BaseModel):
    """Activity in one Amsterdam clock hour (sensor events: movement, doors, bed/chair)."""

    start: datetime  # with the Amsterdam offset of that hour
    count: int


class RobotSummary(BaseModel):
    """What the robot did that day."""

    spoken: int
    answered_yes: int
    answered_no: int
    unanswered: int
    missed: int
    entries: list[TimelineEntryOut]


class DayOverviewOut(BaseModel):
    """A family member's picture of the client's day."""

    client_id: str
    client_name: str
    day: date
    light: Light
    reasons: list[str]
    hours: list[HourActivity]
    robot: RobotSummary | None  # only when robot messages are allowed


class NotificationOut(BaseModel):
    """A stored daytime notification."""

    id: int
    client_id: str
    kind: str
    text: str
    occurred_at: datetime
    deliver_after: datetime
