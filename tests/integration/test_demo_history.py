"""`make run`'s demo history: stored before the rules start, learned by the warm-up, no storm."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.models import Alert
from hub.demo import DAY_TEAM, NIGHT_TEAM
from hub.demo_history import seed_history
from hub.rules.live import RulesHook
from hub.store.db import unit_of_work
from hub.store.models import Client, DeadLetter, Device, Event, Home, Team
from simulators.homes import build_home

NOW = datetime(2026, 3, 11, 14, 7, tzinfo=UTC)  # a Wednesday afternoon in Amsterdam
HOMES = 2
SEED = 7


def _homes_and_devices(sessions: sessionmaker[Session]) -> None:
    """What the demo seed provisions, without a broker: teams, homes, clients, devices."""
    with unit_of_work(sessions) as s:
        s.add_all(
            [
                Team(id=DAY_TEAM, name="Wijkteam (demo)", kind="day", created_at=NOW),
                Team(id=NIGHT_TEAM, name="Nachtteam (demo)", kind="night", created_at=NOW),
            ]
        )
        s.flush()
        for i in range(1, HOMES + 1):
            home = build_home(i, SEED)
            s.add(Home(id=home.home_id, name=home.display_name, team_id=DAY_TEAM, created_at=NOW))
            s.flush()
            s.add(
                Client(
                    id=home.client_id,
                    display_name=home.display_name,
                    home_id=home.home_id,
                    team_id=DAY_TEAM,
                    created_at=NOW,
                )
            )
            for spec in home.devices:
                s.add(
                    Device(
                        id=spec.device_id,
                        kind=spec.kind.value,
                        home_id=home.home_id,
                        password_hash="x",
                        created_at=NOW,
                    )
                )


def test_history_is_stored_learned_by_the_warm_up_and_raises_no_storm(
    sessions: sessionmaker[Session],
) -> None:
    _homes_and_devices(sessions)
    seen: list[tuple[int, int]] = []
    first = seed_history(
        sessions,
        homes=HOMES,
        seed=SEED,
        days=3,
        now=NOW,
        chunk=500,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert first.stored > 0
    assert first.stored == first.messages
    assert first.dead_letters == 0
    assert seen
    assert seen[-1][0] == seen[-1][1]
    with unit_of_work(sessions) as s:
        q = select(Event.home_id, func.count()).group_by(Event.home_id)
        per_home = {row[0]: row[1] for row in s.execute(q)}
        assert set(per_home) == {"h0001", "h0002"}
        assert all(n > 100 for n in per_home.values())
        latest = s.scalar(select(func.max(Event.received_at)))
        assert latest is not None
        assert latest.replace(tzinfo=UTC) < NOW
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0

    rules = RulesHook(clock=lambda: NOW)
    with unit_of_work(sessions) as s:
        read = rules.warm_up(s)
    assert read == first.stored  # every stored event is within the warm-up's 14 days
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 0  # warm-up raises nothing
        rules.tick(s)
    with unit_of_work(sessions) as s:
        alerts = s.scalars(select(Alert)).all()
        per_rule = Counter((a.client_id, a.rule) for a in alerts)
        assert all(n == 1 for n in per_rule.values()), per_rule
        assert all(a.count <= 2 for a in alerts), [(a.client_id, a.rule, a.count) for a in alerts]

    again = seed_history(sessions, homes=HOMES, seed=SEED, days=3, now=NOW)
    assert again.messages == first.messages
    assert again.stored == 0
    assert again.duplicates == first.messages
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == first.stored
