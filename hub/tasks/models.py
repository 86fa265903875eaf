"""Tasks and their completions; both append-only (a task is never updated, only completed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import hub.alerts.models  # noqa: F401  (tasks refer to the alert they follow up)
import hub.store.models  # noqa: F401  (teams and clients are referenced by foreign keys)
from hub.store.base import Base, JSONType

KINDS = ("dose_follow_up", "check_follow_up", "medication_follow_up")


class Task(Base):
    """Something the team must do for a client, created by the alert pipeline."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # one of KINDS
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    source_event_id: Mapped[str | None] = mapped_column(String(64))
    # One task per thing to follow up (a dose moment, a check): a repeat does not add one.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(128))


class TaskCompletion(Base):
    """The record that a task was done: at most one per task, never changed."""

    __tablename__ = "task_completions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    done_at: Mapped[datetime]
    done_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
