"""Device registry services. They take a session and never commit; callers' units of work do."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.kinds import DEVICE_ID_PREFIX, Kind
from hub import audit
from hub.store.models import Device, Home

_hasher = PasswordHasher()


class DeviceControl(Protocol):
    """Broker-side accounts (the dynamic-security client implements this)."""

    def add_device(self, device_id: str, password: str) -> None: ...

    def remove_device(self, device_id: str) -> None: ...

    def set_password(self, device_id: str, password: str) -> None: ...


class NotFound(LookupError):
    """A home or device that does not exist."""


def new_device_id(kind: Kind) -> str:
    """A fresh, topic-safe device id such as ``mot-3f9a2c1b``."""
    return f"{DEVICE_ID_PREFIX[kind]}-{secrets.token_hex(4)}"


def provision(
    session: Session,
    *,
    control: DeviceControl,
    kind: Kind,
    home_id: str,
    label: str = "",
    actor: str,
    source: str,
    device_id: str | None = None,
    password: str | None = None,
) -> tuple[Device, str]:
    """Register a device and create its broker account; return it with its one-time password."""
    if session.get(Home, home_id) is None:
        raise NotFound(f"home {home_id!r} does not exist (create it first: carehub homes add)")
    device_id = device_id or new_device_id(kind)
    password = password or secrets.token_urlsafe(18)
    device = Device(
        id=device_id,
        kind=kind.value,
        home_id=home_id,
        label=label,
        status="unknown",
        password_hash=_hasher.hash(password),
        created_at=datetime.now(UTC),
    )
    session.add(device)
    session.flush()  # a duplicate id fails here, before the broker is touched
    control.add_device(device_id, password)
    audit.record(
        session,
        actor=actor,
        action="device.provision",
        object_type="device",
        object_id=device_id,
        source=source,
        detail={"kind": kind.value, "home_id": home_id},
    )
    return device, password


def revoke(
    session: Session, *, control: DeviceControl, device_id: str, actor: str, source: str
) -> Device:
    """Revoke a device: its broker account is deleted (and disconnected) at once."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id!r} does not exist")
    if device.revoked_at is None:
        device.revoked_at = datetime.now(UTC)
        device.status = "revoked"
        session.flush()
        control.remove_device(device_id)
        audit.record(
            session,
            actor=actor,
            action="device.revoke",
            object_type="device",
            object_id=device_id,
            source=source,
            detail={},
        )
    return device


def reset_password(
    session: Session, *, control: DeviceControl, device_id: str, actor: str, source: str
) -> str:
    """Give a device a new password (shown once); the old one stops working at once."""
    device = session.get(Device, device_id)
    if device is None or device.revoked_at is not None:
        raise NotFound(f"device {device_id!r} does not exist or is revoked")
    password = secrets.token_urlsafe(18)
    device.password_hash = _hasher.hash(password)
    session.flush()
    control.set_password(device_id, password)
    audit.record(
        session,
        actor=actor,
        action="device.reset_password",
        object_type="device",
        object_id=device_id,
        source=source,
        detail={},
    )
    return password


def list_devices(
    session: Session, *, home_id: str | None = None, include_revoked: bool = False
) -> list[Device]:
    """Devices, optionally of one home."""
    stmt = select(Device).order_by(Device.home_id, Device.id)
    if home_id is not None:
        stmt = stmt.where(Device.home_id == home_id)
    if not include_revoked:
        stmt = stmt.where(Device.revoked_at.is_(None))
    return list(session.scalars(stmt))


def verify_password(device: Device, password: str) -> bool:
    """Check a device password against its stored argon2 hash."""
    try:
        return _hasher.verify(device.password_hash, password)
    except Exception:
        return False


def add_home(
    session: Session, *, home_id: str, name: str, team_id: str | None, actor: str, source: str
) -> Home:
    """Create a home."""
    home = Home(id=home_id, name=name, team_id=team_id, created_at=datetime.now(UTC))
    session.add(home)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="home.create",
        object_type="home",
        object_id=home_id,
        source=source,
        detail={"name": name},
    )
    return home
