"""Seed data and decisions for alert tests (synthetic people only)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hub.rules.model import AlertDecision, Rule, Severity
from hub.store.models import Client, Home, Team

T0 = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)  # 11:00 in Amsterdam: day shift


def seed(session: Session) -> None:
    """A day team, a night team, one home and two clients."""
    session.add_all(
        [
            Team(id="wijk-noord", name="Wijkteam Noord", kind="day", created_at=T0),
            Team(id="nacht-regio", name="Nachtdienst regio", kind="night", created_at=T0),
        ]
    )
    session.flush()
    session.add(Home(id="h0001", name="Thuis 1", team_id="wijk-noord", created_at=T0))
    session.flush()
    session.add_all(
        [
            Client(
                id="c0001",
                display_name="Truus Testpersoon (fictief)",
                home_id="h0001",
                team_id="wijk-noord",
                created_at=T0,
            ),
            Client(
                id="c0002",
                display_name="Kees Proef (fictief)",
                home_id="h0001",
                team_id=None,
                created_at=T0,
            ),
        ]
    )
    session.flush()


def decision(
    rule: Rule = Rule.FALL,
    *,
    client: str = "c0001",
    at: datetime = T0,
    severity: Severity = Severity.CRITICAL,
) -> AlertDecision:
    """A rule engine decision."""
    return AlertDecision("h0001", client, rule, severity, at, None, {"last_place": "toilet"})
