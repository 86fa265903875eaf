"""The family overview's view of alerts: which rules alerted for a client on a day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.alerts.models import MEDICATION_RULES, Alert


def alerts_of_day(session: Session, client_id: str, start: datetime, end: datetime) -> list[str]:
    """Rules of the client's alerts raised in [start, end), except those judged false alarms."""
    rows = session.scalars(
        select(Alert.rule).where(
            Alert.client_id == client_id,
            Alert.first_raised_at < end,
            Alert.last_raised_at >= start,
            # Family never learn of medication, not even as a colour.
            Alert.rule.not_in(sorted(MEDICATION_RULES)),
            # A false alarm the team closed should not turn a family member's day red.
            or_(Alert.outcome.is_(None), Alert.outcome != "false_alarm"),
        )
    )
    return sorted(set(rows))
