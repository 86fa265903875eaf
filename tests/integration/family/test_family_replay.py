"""A replayed simulated week: robot answers become not-eating evidence on the right day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.models import User
from hub.family import service as family
from hub.family.models import FamilyLink
from hub.ingest.store import Inbound, store_batch
from hub.robots import service as robots
from hub.robots.answers import AnswerSettings, SignalRule, answer_signals
from hub.robots.schedule import local_day
from hub.store.db import unit_of_work
from hub.store.models import Client, Device, Home, Team
from simulators.stream import Message, Simulation

START = date(2026, 11, 2)
DAYS = 6
SEED = 17  # this seed's resident stops eating on Friday 6 November
# The care plan: a "no" to a meal question counts; no answer does not (she may be out).
PLAN = AnswerSettings(meal_questions=("ontbijt", "avondeten"), meal_no_answer_counts=False)


@dataclass(frozen=True)
class Replay:
    home: dict[str, Any]
    messages: list[Message]
    truth: list[dict[str, Any]]


@pytest.fixture(scope="module")
def simulation() -> Replay:
    # A Simulation is a one-shot stream: run it once, replay the recording per backend.
    sim = Simulation(homes=1, days=DAYS, seed=SEED, start=START)
    messages = list(sim.messages())
    return Replay(sim.manifest()["homes"][0], messages, sim.truth())


def _replay(sessions: sessionmaker[Session], sim: Replay) -> dict[str, str]:
    home = sim.home
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with unit_of_work(sessions) as s:
        s.add(Team(id="t1", name="Wijkteam Noord", kind="day", created_at=t0))
        s.flush()
        s.add(Home(id=home["home_id"], name="Huis", team_id="t1", created_at=t0))
        s.flush()
        s.add(
            Client(
                id=home["client_id"],
                display_name=home["display_name"],
                home_id=home["home_id"],
                team_id="t1",
                created_at=t0,
            )
        )
        for d in home["devices"]:
            s.add(
                Device(
                    id=d["device_id"],
                    kind=d["kind"],
                    home_id=home["home_id"],
                    label="",
                    status="unknown",
                    password_hash="x",
                    created_at=t0,
                )
            )
        s.add(
            User(
                id="fam-1",
                username="fam-1",
                display_name="Dochter",
                password_hash="x",
                role="family",
                qualification_level=0,
                active=True,
                created_at=t0,
            )
        )
        s.flush()
        s.add(
            FamilyLink(
                user_id="fam-1",
                client_id=home["client_id"],
                relation="dochter",
                day_overview=True,
                robot_messages=True,
                notify=["question_unanswered"],
                granted_by="test",
                created_at=t0,
            )
        )
    batch: list[Inbound] = []
    for msg in sim.messages:
        if msg.topic.endswith("/heartbeat"):
            continue
        at = datetime.fromtimestamp(msg.at_ms / 1000, UTC)
        batch.append(Inbound(msg.topic, msg.payload(), at))
    for i in range(0, len(batch), 500):
        with unit_of_work(sessions) as s:
            store_batch(
                s,
                batch[i : i + 500],
                hooks=[robots.record_robot_status, family.notifications_hook],
                now=lambda: datetime.now(UTC),
            )
    return {"client": home["client_id"], "family": "fam-1"}


def test_answers_contribute_to_not_eating_on_the_simulated_day(
    sessions: sessionmaker[Session], simulation: Replay
) -> None:
    ids = _replay(sessions, simulation)
    truth_days = {
        local_day(datetime.fromisoformat(t["start"]))
        for t in simulation.truth
        if t["type"] == "not_eating"
    }
    assert truth_days == {date(2026, 11, 6)}
    per_day: Counter[date] = Counter()
    with sessions() as s:
        for i in range(DAYS):
            day = START + timedelta(days=i)
            answers = robots.day_answers(s, client_id=ids["client"], day=day)
            assert answers, f"no robot answers replayed for {day}"
            for sig in answer_signals(answers, PLAN):
                if sig.rule is SignalRule.NOT_EATING:
                    per_day[sig.day] += 1
    # Both meal questions answered "no" on the not-eating day; at most a stray "no" elsewhere.
    assert per_day[date(2026, 11, 6)] == 2
    assert all(n <= 1 for d, n in per_day.items() if d not in truth_days)
    lights = {}
    with unit_of_work(sessions) as s:
        fam = s.get(User, ids["family"])
        assert fam is not None
        for i in range(DAYS):
            day = START + timedelta(days=i)
            ov = family.day_overview(
                s,
                user=fam,
                client_id=ids["client"],
                day=day,
                now=datetime(2026, 11, 9, tzinfo=UTC),
                source="test",
                settings=lambda _s, _c: PLAN,
            )
            lights[day] = (ov.light, ov.reasons)
    assert lights.pop(date(2026, 11, 6)) == ("unusual", ["robot questions suggest not eating"])
    assert all(v == ("normal", []) for v in lights.values()), lights
