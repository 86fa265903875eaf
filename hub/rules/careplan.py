"""Care plan (zorgplan) per client: which rules apply and with which parameters."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.rules.localtime import parse_hhmm

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class RuleSwitches(BaseModel):
    """Which rules are on for this client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fall: bool = True
    night_exit: bool = True
    not_up: bool = True
    not_eating: bool = True
    missed_dose: bool = True
    device_offline: bool = True
    battery_low: bool = True
    night_restless: bool = Field(
        False, description="Off by default: useful for dementia care, noise for most clients"
    )


class AnswerRule(BaseModel):
    """A robot question whose "no" or silence counts toward a deviation (ADR 0010)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(
        min_length=1,
        max_length=1000,
        description="The question's message id or its exact text, e.g. 'Heeft u al gegeten?'",
    )
    supports: Literal["not_eating", "not_up"] = Field(description="The deviation it supports")
    on_no: bool = Field(True, description="A 'no' counts")
    on_no_answer: bool = Field(True, description="No answer (after any repeat) counts")


class CarePlan(BaseModel):
    """Monitoring parameters of one client; defaults apply while the baseline is learning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: RuleSwitches = Field(default_factory=RuleSwitches, description="Rule switches")
    night_start: str = Field("23:00", pattern=HHMM, description="Night window start, Amsterdam")
    night_end: str = Field("07:00", pattern=HHMM, description="Night window end, Amsterdam")
    usual_wake: str = Field("07:30", pattern=HHMM, description="Usual wake-up time, Amsterdam")
    wake_deadline_min: int = Field(
        90, ge=15, le=360, description="Alert when not up this long after the usual wake time"
    )
    morning_from: str = Field(
        "05:00", pattern=HHMM, description="Leaving bed after this counts as getting up"
    )
    wandering_risk: Literal["low", "high"] = Field(
        "low", description="High: night exits alert sooner and more urgently"
    )
    exit_grace_min: float = Field(
        3.0,
        ge=0,
        le=30,
        description="Front door open at night and nobody back inside for this long",
    )
    bathroom_max_min: float = Field(
        25.0, ge=5, le=240, description="Longest still spell in bathroom/toilet before a fall alert"
    )
    still_max_min: float = Field(
        25.0, ge=5, le=240, description="Longest still spell elsewhere (not in bed/chair)"
    )
    meal_check: str = Field(
        "19:30", pattern=HHMM, description="Time by which kitchen/fridge activity is expected"
    )
    dose_window_min: int = Field(
        45, ge=5, le=240, description="Dispenser window; used when a dispenser goes silent"
    )
    dose_grace_min: int = Field(5, ge=0, le=60, description="Extra wait after the dose window")
    dose_late_grace_min: float = Field(
        3.0,
        ge=0,
        le=5,
        description="After the dispenser reports a missed dose, wait this long for a late take",
    )
    battery_low_pct: int = Field(20, ge=1, le=90, description="Battery low below this level")
    baseline_days: int = Field(14, ge=3, le=60, description="Rolling window of the baseline")
    baseline_min_days: int = Field(
        5, ge=1, le=60, description="Days of data before personal thresholds replace defaults"
    )
    answer_settings: tuple[AnswerRule, ...] = Field(
        (), description="Opt-in: robot answers that count toward a deviation (off when empty)"
    )

    @field_validator("night_start", "night_end", "usual_wake", "morning_from", "meal_check")
    @classmethod
    def _parses(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    def t(
        self, name: Literal["night_start", "night_end", "usual_wake", "morning_from", "meal_check"]
    ) -> time:
        """A clock-time parameter as a `time`."""
        value: str = getattr(self, name)
        return parse_hhmm(value)
