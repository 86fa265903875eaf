"""Foundation tables: teams, homes, clients, devices, events, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.base import Base, JSONType


class Team(Base):
    """A district team (by day) or a night team (ANW hours)."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="day")  # day | night
    created_at: Mapped[datetime]


class Home(Base):
    """A client's home: where devices are installed."""

    __tablename__ = "homes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime]


class Client(Base):
    """A person cared for (synthetic data only in demo and tests)."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    bsn: Mapped[str | None] = mapped_column(String(9), unique=True)
    home_id: Mapped[str | None] = mapped_column(ForeignKey("homes.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_at: Mapped[datetime]


class Device(Base):
    """A provisioned device with its own broker account (password stored only hashed)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    home_id: Mapped[str | None] = mapped_column(ForeignKey("homes.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # unknown|online|offline
    last_seen: Mapped[datetime | None]
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Event(Base):
    """A device event, stored once per envelope id."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_ts", "device_id", "ts"),
        Index("ix_events_home_ts", "home_id", "ts"),
        Index("ix_events_received_at", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    home_id: Mapped[str | None] = mapped_column(String(64))  # the device's home when received
    type: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class DeadLetter(Base):
    """Input the hub refused, kept with the raw bytes and the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)


class DeviceAck(Base):
    """A device's acknowledgement of a command (schedule or dose plan version)."""

    __tablename__ = "device_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    command: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only, hash-chained log of who did what to which data, when, from where (NEN 7513)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Position in the chain, assigned at commit (commit order, not id order); NULL only
    # inside the transaction that writes the entry.
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
