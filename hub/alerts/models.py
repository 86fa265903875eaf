"""Alerts, their transitions (who did what when), escalation steps and routing settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType

STATUSES = ("open", "acknowledged", "resolved")
OUTCOMES = ("real_incident", "false_alarm", "no_action_needed")
# Rules about medication: never told to family, not even as a colour (hub.family).
MEDICATION_RULES = frozenset(
    {"missed_dose", "medication_overdue", "check_missing", "check_rejected"}
)


class Alert(Base):
    """One alert about one client and rule; repeats while unresolved update it (dedup)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_next_escalation", "status", "next_escalation_at"),
        Index("ix_alerts_client_rule", "client_id", "rule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64))
    home_id: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")  # one of STATUSES
    # "client:rule" while unresolved, NULL once resolved: the database itself refuses a
    # second unresolved alert for one (client, rule), even from two hub workers at once.
    open_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    subject: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_raised_at: Mapped[datetime]  # event time of the first decision
    last_raised_at: Mapped[datetime]  # event time of the latest repeat
    created_at: Mapped[datetime] = mapped_column(index=True)  # wall time stored
    updated_at: Mapped[datetime]
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_to: Mapped[str | None] = mapped_column(String(128))
    next_escalation_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(32))  # one of OUTCOMES
    resolution_note: Mapped[str | None] = mapped_column(Text)


class AlertTransition(Base):
    """Every change of an alert, with who and when; escalation steps are unique per alert."""

    __tablename__ = "alert_transitions"
    __table_args__ = (
        UniqueConstraint("alert_id", "action", "step", name="uq_alert_transitions_step"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))  # raised|repeated|acknowledged|...
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    step: Mapped[int | None] = mapped_column(Integer)  # escalation level reached
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)


class EscalationStep(Base):
    """Who is called when an alert stays unacknowledged: level 1, 2, ... of a team's chain.

    A row with team_id NULL is the organisation-wide default chain.
    """

    __tablename__ = "alert_escalation_steps"
    __table_args__ = (UniqueConstraint("team_id", "level", name="uq_alert_escalation_steps_level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    after_min: Mapped[int] = mapped_column(Integer)  # minutes after the previous step
    target: Mapped[str] = mapped_column(String(128))  # a person, role or team to call


class AlertSourceKey(Base):
    """A happening outside the rule engine that already raised (or repeated) an alert.

    eTRS reports an overdue moment on every check; the key (rule + the eTRS dedup key)
    makes it raise once, across restarts and hub workers, even after the alert is resolved.
    """

    __tablename__ = "alert_source_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    created_at: Mapped[datetime]
