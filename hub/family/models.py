"""Mantelzorgers: which family account may see what of which client, and their notifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType


class FamilyLink(Base):
    """A family account linked to a client, with what the client (or representative) allowed."""

    __tablename__ = "family_links"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(100), default="")  # "dochter", "zoon", ...
    day_overview: Mapped[bool] = mapped_column(Boolean, default=True)
    robot_messages: Mapped[bool] = mapped_column(Boolean, default=False)
    notify: Mapped[list[str]] = mapped_column(JSONType)  # NotificationKind values
    granted_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class FamilyNotification(Base):
    """A daytime notification stored for a family member (delivery is another component's)."""

    __tablename__ = "family_notifications"
    __table_args__ = (UniqueConstraint("user_id", "dedup_key", name="uq_family_notifications_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    # Night-time happenings wait for the morning: family get daytime notifications only.
    deliver_after: Mapped[datetime]
    dedup_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
