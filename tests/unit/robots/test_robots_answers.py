"""Robot answers -> rule signals (pure), the family traffic light and daytime delivery."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.payloads import Answer
from hub.family.service import deliver_after, traffic_light
from hub.robots.answers import (
    Answered,
    AnswerSettings,
    SignalRule,
    answer_signals,
    answered_from_event,
    final_answers,
)
from hub.robots.schedule import at_local, parse_hhmm

DAY = date(2026, 11, 24)
MEALS = AnswerSettings(meal_questions=("ontbijt", "avondeten"))


def moment(hhmm: str, day: date = DAY) -> datetime:
    return at_local(day, parse_hhmm(hhmm))


def ans(mid: str, hhmm: str, answer: Answer, after_min: float = 1, day: date = DAY) -> Answered:
    at = moment(hhmm, day)
    return Answered(mid, at, answer, at + timedelta(minutes=after_min))


def test_no_to_meal_question_counts_toward_not_eating() -> None:
    sig = answer_signals([ans("avondeten", "18:30", Answer.NO)], MEALS)
    assert [(s.rule, s.day, s.message_ids) for s in sig] == [
        (SignalRule.NOT_EATING, DAY, ("avondeten",))
    ]


def test_yes_to_meal_question_and_other_questions_do_not_count() -> None:
    answers = [ans("avondeten", "18:30", Answer.YES), ans("drinken", "15:00", Answer.NO)]
    assert answer_signals(answers, MEALS) == []


def test_care_plan_decides_whether_no_answer_counts_for_meals() -> None:
    a = [ans("avondeten", "18:30", Answer.NO_ANSWER)]
    assert [s.rule for s in answer_signals(a, MEALS)] == [SignalRule.NOT_EATING]
    strict = MEALS.model_copy(update={"meal_no_answer_counts": False})
    assert answer_signals(a, strict) == []


def test_repeated_question_answered_on_the_repeat_does_not_count() -> None:
    answers = [
        ans("ontbijt", "09:00", Answer.NO_ANSWER, 2),
        ans("ontbijt", "09:00", Answer.YES, 17),
    ]
    assert [a.answer for a in final_answers(answers)] == [Answer.YES]
    assert answer_signals(answers, MEALS) == []


def test_two_unanswered_morning_questions_support_not_up() -> None:
    answers = [
        ans("goedemorgen", "08:00", Answer.NO_ANSWER, 2),
        ans("ontbijt", "09:00", Answer.NO_ANSWER, 2),
    ]
    sig = [s for s in answer_signals(answers, AnswerSettings()) if s.rule is SignalRule.NOT_UP]
    assert len(sig) == 1
    assert sig[0].message_ids == ("goedemorgen", "ontbijt")
    assert sig[0].at == moment("09:00") + timedelta(minutes=2)


def test_one_unanswered_or_an_answer_in_between_is_not_not_up() -> None:
    assert answer_signals([ans("goedemorgen", "08:00", Answer.NO_ANSWER)], AnswerSettings()) == []
    answers = [
        ans("goedemorgen", "08:00", Answer.NO_ANSWER),
        ans("koffie", "08:30", Answer.YES),
        ans("ontbijt", "09:00", Answer.NO_ANSWER),
    ]
    assert answer_signals(answers, AnswerSettings()) == []


def test_afternoon_questions_are_not_morning_questions() -> None:
    answers = [ans("a", "11:00", Answer.NO_ANSWER), ans("b", "12:00", Answer.NO_ANSWER)]
    assert answer_signals(answers, AnswerSettings(morning_until="11:00")) == []
    assert len(answer_signals(answers, AnswerSettings(morning_until="13:00"))) == 1


def test_answered_from_event_reads_the_wire_data() -> None:
    ts = datetime(2026, 11, 24, 17, 31, tzinfo=UTC)
    a = answered_from_event(
        {
            "message_id": "avondeten",
            "schedule_version": 3,
            "scheduled_for": "2026-11-24T18:30:00+01:00",
            "answer": "no",
        },
        ts,
    )
    assert a == Answered("avondeten", moment("18:30"), Answer.NO, ts)


answer_st = st.builds(
    ans,
    st.sampled_from(["goedemorgen", "ontbijt", "avondeten"]),
    st.sampled_from(["08:00", "09:00", "18:30"]),
    st.sampled_from(list(Answer)),
    st.floats(0, 60),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(answer_st, max_size=8), st.randoms())
def test_signals_do_not_depend_on_arrival_order(answers: list[Answered], rnd: object) -> None:
    shuffled = list(answers)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert answer_signals(shuffled, MEALS) == answer_signals(answers, MEALS)
    # at most one signal per meal moment and one not-up per day
    sig = answer_signals(answers, MEALS)
    assert len([s for s in sig if s.rule is SignalRule.NOT_UP]) <= 1


def test_traffic_light_levels_and_medication_is_invisible() -> None:
    base = {"signals": [], "missed_messages": 0, "activity_total": 50, "daytime_over": True}
    assert traffic_light(alert_rules=[], **base) == ("normal", [])  # type: ignore[arg-type]
    light, reasons = traffic_light(alert_rules=["missed_dose"], **base)  # type: ignore[arg-type]
    assert (light, reasons) == ("normal", [])
    light, reasons = traffic_light(alert_rules=["not_up"], **base)  # type: ignore[arg-type]
    assert light == "alert"
    assert reasons == ["did not get up at the usual time"]
    one = answer_signals([ans("avondeten", "18:30", Answer.NO)], MEALS)
    light, _ = traffic_light(
        alert_rules=[], signals=one, missed_messages=0, activity_total=5, daytime_over=True
    )
    assert light == "normal"  # one "no" to one meal question is an ordinary day
    both = answer_signals(
        [ans("ontbijt", "09:00", Answer.NO), ans("avondeten", "18:30", Answer.NO)], MEALS
    )
    light, reasons = traffic_light(
        alert_rules=[], signals=both, missed_messages=1, activity_total=5, daytime_over=True
    )
    assert light == "unusual"
    assert reasons == ["robot questions suggest not eating", "1 robot message(s) not spoken"]
    light, _ = traffic_light(
        alert_rules=[], signals=[], missed_messages=0, activity_total=0, daytime_over=True
    )
    assert light == "unusual"
    light, _ = traffic_light(
        alert_rules=[], signals=[], missed_messages=0, activity_total=0, daytime_over=False
    )
    assert light == "normal"


def test_night_notifications_wait_for_the_morning() -> None:
    noon = moment("12:00")
    assert deliver_after(noon) == noon
    assert deliver_after(moment("23:30")) == moment("08:00", DAY + timedelta(days=1))
    assert deliver_after(moment("03:00")) == moment("08:00")
    # spring-forward night: 08:00 CEST
    assert deliver_after(moment("01:00", date(2026, 3, 29))) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )
