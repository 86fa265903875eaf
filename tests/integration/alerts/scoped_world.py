"""Two day teams, a night team, a client each and users with API tokens (synthetic people)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.api.app import create_app
from hub.auth.models import TeamMember, User
from hub.auth.service import hash_password, issue_token
from hub.store.db import unit_of_work
from hub.store.models import Client, Home, Team

T_DAY = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)  # 11:00 Amsterdam: day shift
T_NIGHT = datetime(2026, 1, 14, 23, 30, tzinfo=UTC)  # 00:30 Amsterdam: night shift

_HASH = hash_password("pw")

# username -> (role, teams)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "anna": ("nurse", ("team-a",)),
    "bert": ("nurse", ("team-b",)),
    "lead_a": ("team_lead", ("team-a",)),
    "lead_b": ("team_lead", ("team-b",)),
    "nina": ("nurse", ("night",)),
    "admin": ("admin", ()),
    "fam": ("family", ()),
    "pharm": ("pharmacist", ()),
}


@dataclass
class World:
    """The seeded database, a test client of the real app and a token per username."""

    sessions: sessionmaker[Session]
    app: FastAPI
    http: TestClient
    tokens: dict[str, str]
    user_ids: dict[str, str]

    def auth(self, username: str) -> dict[str, str]:
        """Authorization header of a user."""
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def seed(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """Teams, homes, clients ca (team A) and cb (team B), users; returns tokens and ids."""
    session.add_all(
        [
            Team(id="team-a", name="Wijkteam A", kind="day", created_at=T_DAY),
            Team(id="team-b", name="Wijkteam B", kind="day", created_at=T_DAY),
            Team(id="night", name="Nachtdienst", kind="night", created_at=T_DAY),
        ]
    )
    session.flush()
    session.add_all(
        [
            Home(id="ha", name="Thuis A", team_id="team-a", created_at=T_DAY),
            Home(id="hb", name="Thuis B", team_id="team-b", created_at=T_DAY),
        ]
    )
    session.flush()
    session.add_all(
        [
            Client(
                id="ca",
                display_name="Ans Aalbers (fictief)",
                home_id="ha",
                team_id="team-a",
                created_at=T_DAY,
            ),
            Client(
                id="cb",
                display_name="Bep Bakker (fictief)",
                home_id="hb",
                team_id="team-b",
                created_at=T_DAY,
            ),
        ]
    )
    session.flush()
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name, (role, teams) in USERS.items():
        # Users are added directly with one shared hash: argon2 per user slows every test.
        user = User(
            id=f"u-{name}",
            username=name,
            display_name=name,
            password_hash=_HASH,
            role=role,
            qualification_level=2,
            active=True,
            created_at=T_DAY,
        )
        session.add(user)
        session.flush()
        session.add_all([TeamMember(user_id=user.id, team_id=t) for t in teams])
        ids[name] = user.id
        tokens[name] = issue_token(session, user_id=user.id)
    session.flush()
    return tokens, ids


def make_world(sessions: sessionmaker[Session]) -> World:
    """Seed and wrap the real application."""
    with unit_of_work(sessions) as s:
        tokens, ids = seed(s)
    app = create_app(sessions)
    return World(sessions, app, TestClient(app), tokens, ids)
