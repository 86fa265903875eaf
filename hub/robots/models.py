"""Day-structure robot schedules: per client, versioned messages and robot availability history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType


class ClientSchedule(Base):
    """The schedule head of one client: its version and what was last sent to the robot."""

    __tablename__ = "robot_schedules"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    # Bumped (and committed) before every publish, so a version number is never reused.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))
    published_version: Mapped[int | None] = mapped_column(Integer)
    published_device_id: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    publish_error: Mapped[str | None] = mapped_column(Text)


class ScheduledMessage(Base):
    """One message the client's robot speaks (one-off, daily or on chosen weekdays)."""

    __tablename__ = "robot_messages"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the wire `message_id`
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[str] = mapped_column(String(5))  # HH:MM, Europe/Amsterdam wall clock
    recurrence: Mapped[str] = mapped_column(String(16))  # once | daily | weekdays
    weekdays: Mapped[list[int] | None] = mapped_column(JSONType)  # ISO, 1 = Monday
    on_date: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD for `once`
    question: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_if_unanswered_min: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))  # user id
    created_by_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RobotStatusChange(Base):
    """A robot's online/offline report, kept so "offline at 10:00" can be answered later."""

    __tablename__ = "robot_status_log"
    __table_args__ = (Index("ix_robot_status_log_device_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # online | offline
    at: Mapped[datetime]


def as_dict(message: ScheduledMessage) -> dict[str, Any]:
    """A message's fields for audit details (never the whole row object)."""
    return {
        "message_id": message.id,
        "at": message.at,
        "recurrence": message.recurrence,
        "weekdays": message.weekdays,
        "on": message.on_date,
        "question": message.question,
        "repeat_if_unanswered_min": message.repeat_if_unanswered_min,
    }
