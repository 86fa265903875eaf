"""Robot answers as rule signals: a pure function of the day's answers and a care-plan setting.

The rules engine (hub/rules) consumes `answer_signals`; nothing here reads a clock or a
database, so the same answers give the same signals live and in a replay.

Semantics (ADR 0010):

* One question moment is `(message_id, scheduled_for)`. The robot may repeat an
  unanswered question, so one moment can carry `no_answer` and later `yes`; the moment's
  *final* answer is the last yes/no if there is one (a "no" wins a tie in time), else
  `no_answer`.
* **not_eating**: each meal-question moment whose final answer is `no` (if
  `meal_no_counts`) or `no_answer` (if `meal_no_answer_counts`) is one signal toward the
  not-eating deviation, at the time of that answer.
* **not_up**: on an Amsterdam day, morning question moments (scheduled before
  `morning_until`) whose final answer is `no_answer` and that come before the first
  yes/no of that morning are counted; when the count reaches `not_up_unanswered`, one
  signal supports "not up", at the time of the answer that reached it. Any answer means
  she is up, so unanswered questions after it do not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from devices.payloads import Answer
from hub.robots.schedule import CARE_TZ, parse_hhmm


class SignalRule(StrEnum):
    """Rules an answer can contribute to (names equal hub.rules.model.Rule values)."""

    NOT_EATING = "not_eating"
    NOT_UP = "not_up"


class AnswerSettings(BaseModel):
    """Care-plan setting: which robot answers count toward which deviation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meal_questions: tuple[str, ...] = Field(
        (), description="Message ids of questions about eating ('Heeft u al gegeten?')"
    )
    meal_no_counts: bool = Field(True, description="A 'no' to a meal question counts")
    meal_no_answer_counts: bool = Field(True, description="No answer to a meal question counts")
    morning_until: str = Field(
        "11:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Questions scheduled before this Amsterdam time are morning questions",
    )
    not_up_unanswered: int = Field(
        2, ge=1, le=10, description="Unanswered morning questions that support 'not up'"
    )
    not_up_enabled: bool = Field(True, description="Morning silence counts toward 'not up'")


@dataclass(frozen=True, slots=True)
class Answered:
    """One `question.answered` event."""

    message_id: str
    scheduled_for: datetime
    answer: Answer
    ts: datetime  # event time


@dataclass(frozen=True, slots=True)
class AnswerSignal:
    """Evidence from the robot toward a deviation rule."""

    rule: SignalRule
    day: date  # Amsterdam date of the question moments
    at: datetime  # event time the evidence became complete
    message_ids: tuple[str, ...]
    reason: str


class _AnsweredData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: str
    scheduled_for: AwareDatetime
    answer: Answer


def answered_from_event(data: Mapping[str, Any], ts: datetime) -> Answered:
    """Build an `Answered` from a stored `question.answered` event's data and time."""
    d = _AnsweredData.model_validate(dict(data))
    return Answered(d.message_id, d.scheduled_for, d.answer, ts)


# Order of answers with the same time: on a tie the cautious "no" is the one that counts.
ANSWER_RANK: dict[Answer, int] = {Answer.NO_ANSWER: 0, Answer.YES: 1, Answer.NO: 2}


def final_answers(answers: Iterable[Answered]) -> list[Answered]:
    """Per question moment the answer that counts (last yes/no, else no_answer), by moment."""
    best: dict[tuple[str, datetime], Answered] = {}
    for a in sorted(answers, key=lambda a: (a.ts, ANSWER_RANK[a.answer])):
        key = (a.message_id, a.scheduled_for)
        cur = best.get(key)
        definitive = a.answer is not Answer.NO_ANSWER
        if cur is None or definitive or cur.answer is Answer.NO_ANSWER:
            best[key] = a
    return sorted(best.values(), key=lambda a: (a.scheduled_for, a.message_id))


def answer_signals(answers: Iterable[Answered], settings: AnswerSettings) -> list[AnswerSignal]:
    """Turn answers into rule signals per the care-plan setting (pure, order-independent)."""
    finals = final_answers(answers)
    out: list[AnswerSignal] = []
    meals = set(settings.meal_questions)
    for a in finals:
        if a.message_id not in meals:
            continue
        counts = (a.answer is Answer.NO and settings.meal_no_counts) or (
            a.answer is Answer.NO_ANSWER and settings.meal_no_answer_counts
        )
        if counts:
            what = "no" if a.answer is Answer.NO else "no answer"
            out.append(
                AnswerSignal(
                    SignalRule.NOT_EATING,
                    a.scheduled_for.astimezone(CARE_TZ).date(),
                    a.ts,
                    (a.message_id,),
                    f"{what} to meal question {a.message_id}",
                )
            )
    if settings.not_up_enabled:
        out += _not_up(finals, settings)
    return sorted(out, key=lambda s: (s.at, s.rule.value, s.message_ids))


def _not_up(finals: list[Answered], settings: AnswerSettings) -> list[AnswerSignal]:
    until = parse_hhmm(settings.morning_until)
    by_day: dict[date, list[Answered]] = {}
    for a in finals:
        local = a.scheduled_for.astimezone(CARE_TZ)
        if local.time() < until:
            by_day.setdefault(local.date(), []).append(a)
    out: list[AnswerSignal] = []
    for day, moments in sorted(by_day.items()):
        silent: list[Answered] = []
        for a in moments:  # in scheduled order
            if a.answer is not Answer.NO_ANSWER:
                break  # she answered: she is up
            silent.append(a)
            if len(silent) == settings.not_up_unanswered:
                out.append(
                    AnswerSignal(
                        SignalRule.NOT_UP,
                        day,
                        max(s.ts for s in silent),
                        tuple(s.message_id for s in silent),
                        f"{len(silent)} morning questions unanswered",
                    )
                )
                break
    return out
