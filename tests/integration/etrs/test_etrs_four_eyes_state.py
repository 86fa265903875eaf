"""State machine over one high-risk administration: no call sequence completes it with fewer
than two different qualified people, and no stored record ever changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from etrs_world import World, item
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from etrs.models import Administration, DoubleCheck
from etrs.schemas import CheckFacts
from etrs.service import (
    SignOffRefused,
    correct_administration,
    decide_check,
    moments_for,
    request_check,
    sign_off,
)
from hub.auth.service import NotFoundError

DAY = date(2026, 3, 21)
START = datetime(2026, 3, 21, 7, 0, tzinfo=UTC)
USERS = ("anna", "bram", "cees", "dirk")
# Checkers weighted towards the qualified colleague so that completions are common.
CHECKERS = ("anna", "bram", "bram", "bram", "cees", "dirk")
REFUSED = (SignOffRefused, NotFoundError)


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def test_no_sequence_completes_a_double_check_with_one_person(world: World) -> None:
    session = world.session
    qualified = {world.anna.id, world.bram.id}

    class Administering(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.savepoint = session.begin_nested()
            stored = world.store(
                [
                    item(
                        "ins", "Insuline glargine", atc="A10AE04", unit="E", dose="12", in_gds=False
                    )
                ],
                at=START - timedelta(days=1),
            )
            for u in (world.anna, world.bram, world.cees):
                world.ack(u, stored.version.id, at=START - timedelta(days=1))
            self.now = START
            self.moment = moments_for(session, user=world.anna, day=DAY, source="t", now=self.now)[
                0
            ]
            self.seen: dict[tuple[str, str], dict[str, Any]] = {}

        def user(self, name: str) -> Any:
            return getattr(world, name)

        def latest(self) -> Administration | None:
            recs = list(
                session.scalars(
                    select(Administration).where(Administration.moment_key == self.moment.key)
                )
            )
            corrected = {r.corrects_id for r in recs}
            heads = [r for r in recs if r.id not in corrected]
            return heads[0] if heads else None

        @rule(minutes=st.integers(min_value=1, max_value=25))
        def time_passes(self, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)

        @rule(who=st.sampled_from(USERS))
        def sign(self, who: str) -> None:
            try:
                sign_off(
                    session,
                    user=self.user(who),
                    client_id=world.client.id,
                    moment_key=self.moment.key,
                    outcome="given",
                    source="t",
                    now=self.now,
                )
            except REFUSED:
                pass

        @precondition(lambda self: self.latest() is not None)
        @rule(who=st.sampled_from(USERS))
        def ask(self, who: str) -> None:
            rec = self.latest()
            if rec is None:
                return
            try:
                request_check(
                    session, user=self.user(who), administration_id=rec.id, source="t", now=self.now
                )
            except REFUSED:
                pass

        @precondition(lambda self: self.latest() is not None)
        @rule(
            who=st.sampled_from(CHECKERS),
            honest=st.sampled_from([True, True, True, False]),
            method=st.sampled_from(["same_device", "same_device", "remote"]),
            decision=st.sampled_from(["confirm", "confirm", "reject"]),
        )
        def check(self, who: str, honest: bool, method: str, decision: str) -> None:
            rec = self.latest()
            if rec is None:
                return
            facts = CheckFacts(
                client_id=world.client.id,
                medication_key=self.moment.medication_key,
                amount=Decimal(12) if honest else Decimal(120),
                moment_key=self.moment.key,
            )
            try:
                decide_check(
                    session,
                    checker=self.user(who),
                    administration_id=rec.id,
                    decision=decision,  # type: ignore[arg-type]
                    seen=facts,
                    method=method,  # type: ignore[arg-type]
                    source="t",
                    remark="mismatch",
                    now=self.now,
                )
            except REFUSED:
                pass

        @precondition(lambda self: self.latest() is not None)
        @rule(
            who=st.sampled_from(USERS),
            outcome=st.sampled_from(["given", "not_given", "entered_in_error"]),
        )
        def correct(self, who: str, outcome: str) -> None:
            rec = self.latest()
            if rec is None:
                return
            try:
                correct_administration(
                    session,
                    user=self.user(who),
                    administration_id=rec.id,
                    outcome=outcome,  # type: ignore[arg-type]
                    reason_code="406149000" if outcome == "not_given" else None,
                    source="t",
                    now=self.now,
                )
            except REFUSED:
                pass

        @invariant()
        def given_means_two_different_qualified_people(self) -> None:
            if not hasattr(self, "moment"):
                return
            views = moments_for(session, user=world.bram, day=DAY, source="t", now=self.now)
            view = views[0].administration
            if view is None or view.status != "given":
                return
            event("completed with a double check")
            assert view.double_check_required
            assert view.check is not None
            assert view.check.decision == "confirm"
            assert view.check.checker_id != view.recorded_by
            assert view.check.checker_id in qualified

        @invariant()
        def nothing_stored_ever_changes(self) -> None:
            if not hasattr(self, "moment"):
                return
            session.expire_all()
            rows = [
                *session.scalars(
                    select(Administration).where(Administration.client_id == world.client.id)
                ),
                *session.scalars(
                    select(DoubleCheck).where(DoubleCheck.client_id == world.client.id)
                ),
            ]
            current = {(type(r).__name__, r.id): _row(r) for r in rows}
            for key, before in self.seen.items():
                assert current.get(key) == before, f"{key} changed or vanished"
            self.seen = current

        def teardown(self) -> None:
            self.savepoint.rollback()

    run_state_machine_as_test(
        Administering,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
