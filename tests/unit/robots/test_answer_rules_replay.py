"""Robot answers as rule evidence (care plan `answer_settings`), through hub.rules.replay."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.careplan import AnswerRule, CarePlan
from hub.rules.model import AlertDecision
from hub.rules.replay import ReplayStats, run, smart

AMS = ZoneInfo("Europe/Amsterdam")
HOME, CLIENT = "h-ans", "c-ans"
# No fridge contact in this home: without robot answers the engine gives no meal verdict.
DEVICES = {
    "mot-bedroom": "motion",
    "mot-living": "motion",
    "mot-kitchen": "motion",
    "mot-bathroom": "motion",
    "occ-bed": "occupancy",
    "rob-1": "robot",
}
MEAL = "Heeft u al gegeten?"
UP = datetime(2026, 11, 3, 7, 30, tzinfo=AMS)
_seq = itertools.count(1)


def ams(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 3, h, m, tzinfo=AMS)  # a Tuesday


def _line(device: str, typ: str, ts: datetime, data: dict[str, Any]) -> str:
    n = next(_seq)
    return json.dumps(
        {
            "home_id": HOME,
            "client_id": CLIENT,
            "kind": DEVICES[device],
            "topic": f"carehub/v1/dev/{device}/evt/{typ}",
            "event": {
                "id": f"e-{n:06d}",
                "device_id": device,
                "ts": ts.astimezone(UTC).isoformat(),
                "seq": n,
                "type": typ,
                "data": data,
            },
        }
    )


def _question(mid: str, text: str, at: datetime, answers: list[str]) -> list[tuple[datetime, str]]:
    """The robot speaks a question (and repeats it after 15 min) and reports each answer."""
    sched = at.astimezone(UTC).isoformat()
    out: list[tuple[datetime, str]] = []
    for i, answer in enumerate(answers):
        spoken = at + timedelta(minutes=15 * i)
        data = {"message_id": mid, "schedule_version": 1, "scheduled_for": sched}
        out.append(
            (
                spoken,
                _line("rob-1", "message.spoken", spoken, data | {"text": text, "question": True}),
            )
        )
        ts = spoken + timedelta(minutes=5)
        out.append((ts, _line("rob-1", "question.answered", ts, data | {"answer": answer})))
    return out


def _day(*, kitchen: bool = False, up_at: datetime | None = UP) -> list[tuple[datetime, str]]:
    """She is home all day in the living room; the kitchen only when `kitchen`."""
    items: list[tuple[datetime, str]] = []
    items.append(
        (ams(0, 5), _line("occ-bed", "occupancy", ams(0, 5), {"place": "bed", "state": "occupied"}))
    )
    if up_at is not None:
        items.append(
            (up_at, _line("occ-bed", "occupancy", up_at, {"place": "bed", "state": "vacant"}))
        )
        t = up_at + timedelta(minutes=2)
        while t < ams(21, 0):
            items.append((t, _line("mot-living", "motion", t, {"room": "living_room"})))
            t += timedelta(minutes=10)
    if kitchen:
        items.append(
            (ams(12, 10), _line("mot-kitchen", "motion", ams(12, 10), {"room": "kitchen"}))
        )
    return items


def _replay(items: list[tuple[datetime, str]], plan: CarePlan) -> list[AlertDecision]:
    lines = [line for _, line in sorted(items, key=lambda x: x[0])]
    return run(lines, smart({CLIENT: plan}), ReplayStats())


MEAL_PLAN = CarePlan(answer_settings=(AnswerRule(question=MEAL, supports="not_eating"),))


def _unanswered_meals() -> list[tuple[datetime, str]]:
    return _question("lunch", MEAL, ams(12, 30), ["no_answer", "no_answer"]) + _question(
        "avondeten", MEAL, ams(18, 0), ["no_answer", "no_answer"]
    )


def test_unanswered_meal_questions_and_no_kitchen_activity_raise_not_eating() -> None:
    alerts = _replay(_day() + _unanswered_meals(), MEAL_PLAN)
    eating = [a for a in alerts if a.rule.value == "not_eating"]
    assert len(eating) == 1
    assert eating[0].raised_at == ams(19, 30).astimezone(UTC)  # the plan's meal check
    assert eating[0].detail == {"robot_questions": 2, "kitchen": 0}


def test_without_the_care_plan_setting_the_same_day_gives_no_not_eating() -> None:
    alerts = _replay(_day() + _unanswered_meals(), CarePlan())
    assert not [a for a in alerts if a.rule.value == "not_eating"]


def test_kitchen_activity_outweighs_unanswered_questions() -> None:
    alerts = _replay(_day(kitchen=True) + _unanswered_meals(), MEAL_PLAN)
    assert not [a for a in alerts if a.rule.value == "not_eating"]


def test_a_yes_on_the_repeat_withdraws_the_evidence_and_other_questions_do_not_count() -> None:
    items = (
        _day()
        + _question("lunch", MEAL, ams(12, 30), ["no_answer", "yes"])
        + _question("drinken", "Heeft u genoeg gedronken?", ams(15, 0), ["no_answer"])
    )
    alerts = _replay(items, MEAL_PLAN)
    assert not [a for a in alerts if a.rule.value == "not_eating"]


def test_a_question_matched_by_message_id_and_only_on_no() -> None:
    plan = CarePlan(
        answer_settings=(
            AnswerRule(question="avondeten", supports="not_eating", on_no_answer=False),
        )
    )
    silent = _day() + _question("avondeten", "Al gegeten?", ams(18, 0), ["no_answer"])
    assert not [a for a in _replay(silent, plan) if a.rule.value == "not_eating"]
    said_no = _day() + _question("avondeten", "Al gegeten?", ams(18, 0), ["no"])
    assert [a.rule.value for a in _replay(said_no, plan)].count("not_eating") == 1


def test_two_unanswered_morning_questions_raise_not_up_before_the_deadline() -> None:
    morning = _question("ontbijt", "Heeft u al ontbeten?", ams(8, 0), ["no_answer"]) + _question(
        "koffie", "Zullen we koffie drinken?", ams(8, 20), ["no_answer"]
    )
    tick = ams(10, 0)  # the robot's heartbeat keeps the log (and its clock) going
    still_in_bed = (
        _day(up_at=None) + morning + [(tick, _line("rob-1", "heartbeat", tick, {"uptime_s": 9}))]
    )
    plan = CarePlan(
        answer_settings=(
            AnswerRule(question="ontbijt", supports="not_up"),
            AnswerRule(question="koffie", supports="not_up"),
        )
    )
    early = [a for a in _replay(still_in_bed, plan) if a.rule.value == "not_up"]
    late = [a for a in _replay(still_in_bed, CarePlan()) if a.rule.value == "not_up"]
    assert [a.raised_at for a in early] == [ams(8, 25).astimezone(UTC)]
    assert [a.raised_at for a in late] == [ams(9, 0).astimezone(UTC)]  # 07:30 + 90 min
    # Up at 07:30: the same silence is not "not up".
    up = [a for a in _replay(_day() + morning, plan) if a.rule.value == "not_up"]
    assert up == []


@settings(max_examples=25, deadline=None)
@given(
    answers=st.lists(st.sampled_from(["yes", "no", "no_answer"]), min_size=1, max_size=3),
    kitchen=st.booleans(),
    up=st.booleans(),
)
def test_a_setting_for_a_question_never_asked_changes_nothing(
    answers: list[str], kitchen: bool, up: bool
) -> None:
    items = _day(kitchen=kitchen, up_at=UP if up else None) + _question(
        "avondeten", MEAL, ams(18, 0), answers
    )
    unrelated = CarePlan(
        answer_settings=(
            AnswerRule(question="Wilt u een wandeling maken?", supports="not_eating"),
            AnswerRule(question="wandeling", supports="not_up"),
        )
    )
    assert _replay(items, unrelated) == _replay(items, CarePlan())
