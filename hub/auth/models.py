"""Users, team membership, API tokens and pharmacies (who may see which client)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

import hub.store.models  # noqa: F401  (teams and clients are referenced by foreign keys)
from hub.store.base import Base

ROLES = ("nurse", "team_lead", "pharmacist", "admin", "family")


class User(Base):
    """A person who signs in: carer, team lead, pharmacist, administrator or family member."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # one of ROLES
    # Level for double checks: 0 none, 1 may administer, 2 may act as second checker
    # (e.g. a registered nurse, niveau 4+); the eTRS policy sets the level it requires.
    qualification_level: Mapped[int] = mapped_column(Integer, default=0)
    # A pharmacist works for one pharmacy and sees only that pharmacy's clients.
    pharmacy_id: Mapped[str | None] = mapped_column(ForeignKey("pharmacies.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class TeamMember(Base):
    """A user's membership of a team (a nurse sees that team's clients)."""

    __tablename__ = "team_members"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True, index=True)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random, not passwords)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Pharmacy(Base):
    """A pharmacy that supplies administration lists."""

    __tablename__ = "pharmacies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PharmacyClient(Base):
    """A pharmacy supplies this client: it may see and upload lists for them only."""

    __tablename__ = "pharmacy_clients"

    pharmacy_id: Mapped[str] = mapped_column(ForeignKey("pharmacies.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), primary_key=True, index=True)
