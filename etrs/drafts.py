"""What an import produces: a pharmacy's administration list per client, not yet stored.

Importers (FHIR MP9, CSV) parse into these; the eTRS list service turns a ClientListDraft
into an immutable list version. Pure data, no I/O.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductCodes(_Draft):
    """G-Standaard product codes and ATC (any may be absent)."""

    zi: str | None = None  # ZI-nummer, OID 2.16.840.1.113883.2.4.4.8
    hpk: str | None = None  # 2.16.840.1.113883.2.4.4.7
    prk: str | None = None  # 2.16.840.1.113883.2.4.4.10
    gpk: str | None = None  # 2.16.840.1.113883.2.4.4.1
    atc: str | None = None


DayPart = Literal["MORN", "AFT", "EVE", "NIGHT"]  # FHIR event timing codes MP9 uses
DAY_PART_ORDER: tuple[DayPart, ...] = ("MORN", "AFT", "EVE", "NIGHT")


class Schedule(_Draft):
    """When doses fall. Times are wall-clock in Europe/Amsterdam."""

    times_of_day: list[Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]] = Field(
        default_factory=list
    )
    # ISO weekdays (1 = Monday); empty = every day
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=list)
    # "N times per period" without fixed times (e.g. 3x daily): frequency per period_days
    frequency: int | None = Field(default=None, ge=1)
    # "1 à 2 keer per dag": the most per period (frequency is the planned least)
    frequency_max: int | None = Field(default=None, ge=1)
    period_days: Decimal | None = Field(default=None, gt=0)
    # parts of the day without a clock time (timing.repeat.when): morning, afternoon, ...
    day_parts: list[DayPart] = Field(default_factory=list)
    # every `interval_days` days (e.g. weekly methotrexate = 7), counted from `start`
    interval_days: int | None = Field(default=None, ge=1)
    # cyclical schedule: `cycle_on_days` on within every `cycle_length_days`
    cycle_length_days: int | None = Field(default=None, ge=1)
    cycle_on_days: int | None = Field(default=None, ge=1)
    start: datetime | None = None
    end: datetime | None = None
    duration_days: Decimal | None = Field(default=None, gt=0)


class Dose(_Draft):
    """Amount per administration; a range when the list gives min..max."""

    value: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str  # G-Standaard unit as shown to nurses, e.g. "stuk", "mg", "ml", "IE"
    unit_code: str | None = None  # G-Standaard thesaurus 2820 code, if given


class ItemDraft(_Draft):
    """One line of an administration list (toedieningsafspraak)."""

    source_id: str  # stable id within the pharmacy's system (resource id or CSV key)
    medication_name: str = Field(min_length=1, max_length=500)
    codes: ProductCodes = ProductCodes()
    strength: str | None = None  # e.g. "500 mg"
    form: str | None = None  # e.g. "tablet"
    dose: Dose | None = None
    route: str | None = None  # human text, e.g. "oraal"
    route_code: str | None = None  # G-Standaard thesaurus 7 code
    schedule: Schedule = Schedule()
    prn: bool = False
    prn_indication: str | None = None
    prn_max_per_24h: Decimal | None = None
    instructions: str | None = None
    in_gds: bool = False  # multi-dose roll (baxter)
    dispenser_managed: bool = False
    high_risk_flag: bool | None = None  # pharmacy's own flag, if any
    exact_time: bool = False  # "exact time" items have a stricter overdue window
    stopped: bool = False  # stop type given (stopped / paused)
    stop_type: Literal["stopped", "paused"] | None = None
    stop_reason: str | None = None
    # the pharmacy's reason for changing or stopping this agreement (MP9
    # ReasonModificationOrDiscontinuation), e.g. "gebrek aan geneesmiddeleffect"
    change_reason: str | None = None
    period_start: date | None = None
    period_end: date | None = None


class ClientListDraft(_Draft):
    """A pharmacy's full administration list for one client."""

    bsn: str = Field(pattern=r"^\d{9}$")
    client_name: str | None = None
    issued_at: datetime | None = None
    items: list[ItemDraft]
