"""Demo set-up for `make run`: synthetic teams, users, homes and provisioned devices.

Everything here is fictitious. The demo password is a clearly-marked demo secret; device
passwords are generated once and kept in DATA_DIR/demo-devices.json (mode 0600) so the
simulated homes can reconnect on the next `make run`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import service as auth
from hub.auth.models import Pharmacy, User
from hub.devices import service as devices
from hub.store.models import Client, Device, Home, Team
from simulators.homes import HomeSpec

DEMO_PASSWORD = "demo"  # DEMO ONLY: refused nowhere because it only exists in demo data
DAY_TEAM = "wijkteam-noord"
NIGHT_TEAM = "nachtteam-regio"
PHARMACY = "apotheek-centrum"

# username, display name, role, qualification level, teams
DEMO_USERS: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    ("anna", "Anna Jansen (demo, verpleegkundige)", "nurse", 2, (DAY_TEAM,)),
    ("bram", "Bram de Boer (demo, verpleegkundige)", "nurse", 2, (DAY_TEAM,)),
    ("nora", "Nora Smit (demo, nachtdienst)", "nurse", 2, (NIGHT_TEAM,)),
    ("tessa", "Tessa Visser (demo, teamleider)", "team_lead", 2, (DAY_TEAM, NIGHT_TEAM)),
    ("piet", "Piet Mulder (demo, apotheker)", "pharmacist", 0, ()),
    ("admin", "Beheerder (demo)", "admin", 0, ()),
)

# Synthetic BSNs that pass the elfproef and belong to nobody (test range style).
DEMO_BSNS = ("999990007", "999990019", "999990020", "999990032", "999990044", "999990056")


@dataclass(frozen=True)
class DemoSeed:
    """What the demo created or found."""

    passwords: dict[str, str]
    users: tuple[tuple[str, str, str], ...]  # username, password, role


def _ensure_team(session: Session, team_id: str, name: str, kind: str) -> None:
    if session.get(Team, team_id) is None:
        session.add(Team(id=team_id, name=name, kind=kind, created_at=datetime.now(UTC)))
        session.flush()


def seed(
    session: Session, *, control: devices.DeviceControl, homes: list[HomeSpec], secrets_file: Path
) -> DemoSeed:
    """Create (once) the demo organisation and provision every device of the demo homes."""
    _ensure_team(session, DAY_TEAM, "Wijkteam Noord (demo)", "day")
    _ensure_team(session, NIGHT_TEAM, "Nachtteam regio (demo)", "night")
    if session.get(Pharmacy, PHARMACY) is None:
        auth.create_pharmacy(session, pharmacy_id=PHARMACY, name="Apotheek Centrum (demo)")
    known = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    for i, home in enumerate(homes):
        if session.get(Home, home.home_id) is None:
            devices.add_home(
                session,
                home_id=home.home_id,
                name=f"Woning {home.display_name}",
                team_id=DAY_TEAM,
                actor="demo",
                source="demo",
            )
        if session.get(Client, home.client_id) is None:
            session.add(
                Client(
                    id=home.client_id,
                    display_name=home.display_name,
                    bsn=DEMO_BSNS[i] if i < len(DEMO_BSNS) else None,
                    home_id=home.home_id,
                    team_id=DAY_TEAM,
                    created_at=datetime.now(UTC),
                )
            )
            session.flush()
            auth.link_pharmacy_client(session, pharmacy_id=PHARMACY, client_id=home.client_id)
        for spec in home.devices:
            if session.get(Device, spec.device_id) is not None:
                if spec.device_id not in known:  # the secrets file was removed: new password
                    known[spec.device_id] = devices.reset_password(
                        session,
                        control=control,
                        device_id=spec.device_id,
                        actor="demo",
                        source="demo",
                    )
                continue
            _dev, password = devices.provision(
                session,
                control=control,
                kind=spec.kind,
                home_id=home.home_id,
                label=spec.role,
                actor="demo",
                source="demo",
                device_id=spec.device_id,
            )
            known[spec.device_id] = password
    existing = set(session.scalars(select(User.username)))
    for username, name, role, level, teams in DEMO_USERS:
        if username not in existing:
            auth.create_user(
                session,
                username=username,
                password=DEMO_PASSWORD,
                display_name=name,
                role=role,
                qualification_level=level,
                team_ids=teams,
                pharmacy_id=PHARMACY if role == "pharmacist" else None,
            )
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(known, fh)
    users = tuple((u, DEMO_PASSWORD, role) for u, _n, role, _l, _t in DEMO_USERS)
    return DemoSeed(dict(known), users)
