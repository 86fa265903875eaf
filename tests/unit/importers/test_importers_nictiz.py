"""The 40 Nictiz MP9 example bundles: TA bundles import with the right items, others are refused."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etrs.drafts import ClientListDraft, ItemDraft
from etrs.importers import import_bytes, operation_outcome
from etrs.importers.fhir_xml import parse_xml

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mp9"
ALL = sorted(DATA.glob("*.xml"))
TA = [p for p in ALL if "-TA-" in p.name]
NOT_TA = [p for p in ALL if "-TA-" not in p.name]
AMS = ZoneInfo("Europe/Amsterdam")

pytestmark = pytest.mark.skipif(not ALL, reason="Nictiz MP9 examples not present")


def _load(name: str) -> ClientListDraft:
    result = import_bytes((DATA / name).read_bytes(), "application/fhir+xml")
    assert result.ok, result.issues
    assert len(result.drafts) == 1
    return result.drafts[0]


def _item(draft: ClientListDraft, source_id: str) -> ItemDraft:
    return next(i for i in draft.items if i.source_id == source_id)


def test_all_forty_examples_are_present() -> None:
    assert len(ALL) == 40
    assert len(TA) == 11


@pytest.mark.parametrize("path", TA, ids=lambda p: p.stem)
def test_ta_bundle_imports_every_agreement(path: Path) -> None:
    result = import_bytes(path.read_bytes(), "application/fhir+xml")
    assert result.ok, [i.message_en for i in result.errors]
    assert result.stats["ta"] >= 1
    (draft,) = result.drafts
    assert draft.items
    ids = [i.source_id for i in draft.items]
    assert len(ids) == len(set(ids))
    for item in draft.items:
        assert item.medication_name
        assert item.schedule.start is not None
        assert item.schedule.start.tzinfo is not None
        assert item.period_start is not None
        assert item.route_code is not None  # every Nictiz TA has a G-Standaard route
        if item.period_end is not None:
            assert item.period_end >= item.period_start
        assert item.stopped == (item.stop_type is not None)


@pytest.mark.parametrize("path", TA, ids=lambda p: p.stem)
def test_json_form_gives_the_same_drafts_as_xml(path: Path) -> None:
    xml_result = import_bytes(path.read_bytes(), "application/fhir+xml")
    as_json = json.dumps(parse_xml(path.read_bytes()), default=str).encode()
    json_result = import_bytes(as_json, "application/fhir+json")
    assert json_result.ok, json_result.issues
    assert json_result.drafts == xml_result.drafts


@pytest.mark.parametrize("path", NOT_TA, ids=lambda p: p.stem)
def test_bundle_without_ta_is_refused_with_an_explanation(path: Path) -> None:
    result = import_bytes(path.read_bytes(), "application/fhir+xml")
    assert not result.ok
    assert result.drafts == ()
    (issue,) = result.errors
    assert issue.code == "not-supported"
    assert "ADR 0008" in issue.message_nl
    if "-MA-" in path.name:
        assert "medicatieafspraken" in issue.message_nl
    else:
        assert "medicatietoedieningen" in issue.message_nl
    oo = operation_outcome(result)
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["severity"] == "error"


def test_kwal_script1_ecansya_cycle_stop_and_replacement() -> None:
    draft = _load("mgsets-mp-smg-kwal-TA-script1-v30.xml")
    assert draft.bsn == "999901059"
    assert draft.client_name == "P. XXX_Schut"
    # the stop-TA ends the original; the change is a new TA: two lines, not three
    assert [i.source_id for i in draft.items] == [
        "MBH_300_SCRIPT1_TA-tmgs",
        "MBH_300_SCRIPT1_TA_WIJZIGING-tmgs",
    ]
    old = _item(draft, "MBH_300_SCRIPT1_TA-tmgs")
    new = _item(draft, "MBH_300_SCRIPT1_TA_WIJZIGING-tmgs")
    for item in (old, new):
        assert item.medication_name == "ECANSYA TABLET FILMOMHULD 500MG"
        assert item.codes.hpk == "3060195"
        assert item.codes.prk == "59366"
        assert item.codes.gpk == "112984"
        assert item.route == "oraal"
        assert item.route_code == "9"
        assert item.schedule.times_of_day == ["09:00", "21:00"]
        assert item.schedule.cycle_length_days == 21
        assert item.schedule.cycle_on_days == 14
        assert item.schedule.duration_days is None  # 14 days is the on-part of the cycle
        assert item.exact_time is True
        assert item.dose is not None
        assert item.dose.unit == "stuk"
        assert item.dose.unit_code == "245"
    assert old.dose is not None
    assert old.dose.value == Decimal(4)
    assert old.period_start == date(2024, 1, 1)
    assert old.period_end == date(2024, 1, 21)
    assert old.stopped is True
    assert old.stop_type == "stopped"
    assert old.stop_reason == "gebrek aan geneesmiddeleffect"
    assert new.dose is not None
    assert new.dose.value == Decimal(5)
    assert new.period_start == date(2024, 1, 22)
    assert new.schedule.start == datetime(2024, 1, 22, tzinfo=AMS)
    # 18 weeks from 22 January, across the DST change, ends at local midnight
    assert new.schedule.end == datetime(2024, 5, 27, tzinfo=AMS)
    assert new.period_end == date(2024, 5, 26)
    assert new.stopped is False
    # the reason for the change travels with the new agreement (MP9) and is kept there
    assert new.change_reason == "gebrek aan geneesmiddeleffect"
    assert old.change_reason is None


def test_kwal_script4_gds_and_dosing_phases() -> None:
    draft = _load("mgsets-mp-smg-kwal-TA-script4-v30.xml")
    gds1 = _item(draft, "MBH_300_script4_TA_GDS-tmgs#1")
    gds2 = _item(draft, "MBH_300_script4_TA_GDS-tmgs#2")
    assert gds1.in_gds
    assert gds2.in_gds
    assert gds1.schedule.times_of_day == ["08:00", "22:00"]
    assert gds1.dose is not None
    assert gds1.dose.value == 2
    assert gds1.schedule.duration_days == 3
    assert gds2.schedule.times_of_day == ["08:00", "14:00", "22:00"]
    assert gds2.dose is not None
    assert gds2.dose.value == 1
    # phase 2 starts when phase 1 ends
    assert gds2.schedule.start == gds1.schedule.end
    assert gds2.schedule.start == datetime(2023, 12, 29, 11, 30, tzinfo=AMS)
    loose = _item(draft, "MBH_300_script4_TA_los-tmgs#1")
    assert not loose.in_gds
    assert loose.prn
    assert loose.prn_indication == "Bij pijn"
    assert loose.prn_max_per_24h == 6
    assert loose.instructions is not None
    assert "vóór het eten" in loose.instructions


def test_kwal_script3_prn_dose_range_with_maximum() -> None:
    (item,) = _load("mgsets-mp-smg-kwal-TA-script3-v30.xml").items
    assert item.prn is True
    assert item.prn_indication == "Bij pijn"
    assert item.prn_max_per_24h == 3
    assert item.dose is not None
    assert (item.dose.low, item.dose.high, item.dose.value) == (Decimal(1), Decimal(2), None)
    assert item.route == "oromucosaal"


def test_scenarioset6_timing_variants() -> None:
    draft = _load("mgsets-mp-smg-tst-TA-Scenarioset6-v30.xml")
    every8h = _item(draft, "MBH_300_interval_TA-tmgs").schedule
    assert (every8h.frequency, every8h.period_days) == (3, Decimal(1))
    weekdays = _item(draft, "MBH_300_weekdagen_TA-tmgs").schedule
    assert weekdays.weekdays == [1, 3, 5]
    pill = _item(draft, "MBH_300_cyclischschema_TA-tmgs").schedule
    assert (pill.cycle_length_days, pill.cycle_on_days) == (28, 21)
    taper = [_item(draft, f"MBH_300_afbouwschema_TA-tmgs#{n}") for n in (1, 2, 3)]
    assert [t.dose.value for t in taper if t.dose] == [3, 2, 1]
    assert [t.period_start for t in taper] == [
        date(2024, 1, 1),
        date(2024, 1, 15),
        date(2024, 2, 5),
    ]
    assert taper[2].period_end == date(2024, 2, 10)
    half = _item(draft, "MBH_300_bijzonderekeerdosis_TA-tmgs")
    assert half.dose is not None
    assert half.dose.value == Decimal("0.5")


def test_scenarioset3_pause_cancel_and_stop_reason_from_successor() -> None:
    draft = _load("mgsets-mp-smg-tst-TA-Scenarioset3-v30.xml")
    paused = _item(draft, "MBH_300_onderbreken_TA_start-tmgs")
    assert paused.stop_type == "paused"
    assert paused.period_end == date(2023, 12, 31)
    cancelled = _item(draft, "MBH_300_annuleren_TA_starten-tmgs")
    assert cancelled.stopped
    assert cancelled.stop_reason == "geannuleerd"
    changed = _item(draft, "MBH_300_TAwijzigen_TA_start-tmgs")
    assert changed.stopped
    assert changed.stop_reason == "geneesmiddel niet voorradig"
    weekly = _item(draft, "MBH_300_wijzigen_verlaging_TA_wijzigingzonderMVE-tmgs").schedule
    assert (weekly.frequency, weekly.period_days, weekly.interval_days) == (1, Decimal(7), 7)
    # stop-TAs never appear as lines of their own
    assert not any("staken" in i.source_id or "stopTA" in i.source_id for i in draft.items)


def test_part_of_day_is_scheduled_daily_with_a_warning() -> None:
    result = import_bytes(
        (DATA / "mgsets-mp-smg-tst-TA-Scenarioset6-v30.xml").read_bytes(), "application/fhir+xml"
    )
    item = _item(result.drafts[0], "MBH_300_dagdeel_TA-tmgs")
    assert (item.schedule.frequency, item.schedule.period_days) == (1, Decimal(1))
    assert item.instructions is not None
    assert "avond" in item.instructions
    assert any(
        w.severity == "warning" and (w.expression or "").endswith("timing.repeat.when")
        for w in result.issues
    )


def test_scenarioset10_zi_number_and_all_product_codes() -> None:
    (item,) = _load("mgsets-mp-smg-tst-TA-Scenarioset10-v30.xml").items
    assert item.codes.zi == "16255429"
    assert (item.codes.hpk, item.codes.prk, item.codes.gpk) == ("2593866", "2941", "83593")
    assert item.medication_name == "INDAPAMIDE CF TABLET OMHULD 2,5MG"


def test_scenarioset6_day_part_and_variable_frequency_are_kept_as_fields() -> None:
    draft = _load("mgsets-mp-smg-tst-TA-Scenarioset6-v30.xml")
    evening = _item(draft, "MBH_300_dagdeel_TA-tmgs").schedule
    assert evening.day_parts == ["EVE"]
    assert evening.times_of_day == []
    variable = _item(draft, "MBH_300_variabelefrequentie_TA-tmgs").schedule
    # "1 à 2 keer per dag": planned once, at most twice
    assert (variable.frequency, variable.frequency_max, variable.period_days) == (
        1,
        2,
        Decimal(1),
    )
    assert all(
        i.schedule.frequency_max is None
        for i in draft.items
        if i.source_id != "MBH_300_variabelefrequentie_TA-tmgs"
    )


def test_scenarioset3_morning_part_and_reasons_for_change() -> None:
    draft = _load("mgsets-mp-smg-tst-TA-Scenarioset3-v30.xml")
    gds = _item(draft, "MBH_300_stoppen_parallele_TA_TA_start_GDS-tmgs")
    assert gds.schedule.day_parts == ["MORN"]
    replaced = _item(draft, "MBH_300_TAwijzigen_TA_anderePRK-tmgs")
    assert replaced.change_reason == "geneesmiddel niet voorradig"
    assert not replaced.stopped
    corrected = _item(draft, "MBH_300_wijzigen_correctie_TA-tmgs")
    assert corrected.stopped
    assert corrected.change_reason == corrected.stop_reason == "foutieve registratie van medicatie"
