"""FHIR uploads: mapping details, located bilingual errors, nothing half-imported, safe XML."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from etrs.importers import Limits, import_bytes, operation_outcome, report_lines
from etrs.importers.mp9 import EXT_CYCLE, EXT_STOP
from etrs.importers.synthetic import bundle, fake_bsn, to_xml


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def _ta(b: dict[str, Any], n: int = 0) -> dict[str, Any]:
    tas = [e for e in b["entry"] if e["resource"]["resourceType"] == "MedicationDispense"]
    resource: dict[str, Any] = tas[n]["resource"]
    return resource


def _index_of(b: dict[str, Any], resource: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(b["entry"]) if e["resource"] is resource)


def test_synthetic_bundle_imports_in_json_and_xml() -> None:
    b = bundle(3, items_per_client=2)
    as_json = import_bytes(_json(b), "application/fhir+json")
    as_xml = import_bytes(to_xml(b).encode(), "application/fhir+xml")
    assert as_json.ok
    assert as_xml.ok
    assert [d.bsn for d in as_json.drafts] == [fake_bsn(0), fake_bsn(1), fake_bsn(2)]
    assert as_json.drafts == as_xml.drafts
    assert as_json.item_count == 6


def test_unknown_modifier_extension_rejects_with_entry_and_element() -> None:
    b = bundle(2, items_per_client=2)
    ta = _ta(b, 1)
    ta["modifierExtension"] = [{"url": "http://example.org/ext-Onbekend", "valueBoolean": True}]
    result = import_bytes(_json(b), "application/fhir+json")
    assert not result.ok
    assert result.drafts == ()  # the other client's list is not imported either
    (err,) = result.errors
    index = _index_of(b, ta)
    assert err.entry == index
    assert err.full_url == b["entry"][index]["fullUrl"]
    assert err.expression == f"Bundle.entry[{index}].resource.modifierExtension[0]"
    assert "ext-Onbekend" in err.message_nl
    assert "ext-Onbekend" in err.message_en


def test_unknown_modifier_extension_deep_in_dosage_rejects() -> None:
    b = bundle(1, items_per_client=1)
    ta = _ta(b)
    ta["dosageInstruction"][0]["modifierExtension"] = [
        {"url": EXT_CYCLE, "valueDuration": {"value": 7, "code": "d"}}
    ]
    result = import_bytes(_json(b), "application/fhir+json")
    (err,) = result.errors
    # the cyclical-schedule modifier is understood only where MP9 puts it
    assert err.expression is not None
    assert err.expression.endswith("dosageInstruction[0].modifierExtension[0]")


def test_unknown_stop_type_rejects() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["modifierExtension"] = [
        {"url": EXT_STOP, "valueCodeableConcept": {"coding": [{"code": "123"}]}}
    ]
    result = import_bytes(_json(b), "application/fhir+json")
    assert not result.ok
    assert "stoptype" in result.errors[0].message_nl.lower()


def test_fhir_validation_error_names_the_element() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["dosageInstruction"][0]["timing"]["repeat"]["timeOfDay"] = ["25:99:00"]
    result = import_bytes(_json(b), "application/fhir+json")
    assert not result.ok
    assert any(
        "dosageInstruction[0].timing.repeat.timeOfDay" in (e.expression or "")
        for e in result.errors
    )


def test_missing_patient_reference_is_an_error() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["subject"] = {"reference": "urn:uuid:nergens"}
    result = import_bytes(_json(b), "application/fhir+json")
    (err,) = result.errors
    assert err.code == "required"
    assert err.expression is not None
    assert err.expression.endswith(".subject")


def test_invalid_bsn_is_refused() -> None:
    b = bundle(1, items_per_client=1)
    patient = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["identifier"][0]["value"] = "123456789"  # fails the elfproef
    result = import_bytes(_json(b), "application/fhir+json")
    (err,) = result.errors
    assert "elfproef" in err.message_nl
    assert err.entry == _index_of(b, patient)


def test_missing_start_is_an_error() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["extension"] = [x for x in _ta(b)["extension"] if "Period" not in x["url"]]
    result = import_bytes(_json(b), "application/fhir+json")
    assert not result.ok
    assert "ingangsdatum" in result.errors[0].message_nl


def test_duplicate_agreement_identifier_is_refused() -> None:
    b = bundle(1, items_per_client=2)
    _ta(b, 1)["identifier"] = copy.deepcopy(_ta(b, 0)["identifier"])
    result = import_bytes(_json(b), "application/fhir+json")
    assert not result.ok
    assert "twee keer" in result.errors[0].message_nl


@pytest.mark.parametrize(
    "payload",
    [
        # billion laughs: entity expansion
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Bundle xmlns="http://hl7.org/fhir">'
        b'<id value="&lol2;"/></Bundle>',
        # external entity (XXE)
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Bundle>',
        # any DTD at all
        b'<!DOCTYPE Bundle SYSTEM "http://example.org/x.dtd"><Bundle xmlns="http://hl7.org/fhir"/>',
    ],
)
def test_unsafe_xml_is_refused_as_a_security_issue(payload: bytes) -> None:
    result = import_bytes(payload, "application/fhir+xml")
    (err,) = result.errors
    assert err.code == "security"
    assert "root:" not in err.message_en


def test_malformed_xml_reports_line_and_column() -> None:
    result = import_bytes(b'<Bundle xmlns="http://hl7.org/fhir">\n<entry>', "application/fhir+xml")
    (err,) = result.errors
    assert err.code == "structure"
    assert "regel 2" in err.message_nl


def test_xml_in_wrong_namespace_or_unknown_element_is_refused() -> None:
    assert not import_bytes(b"<Bundle/>", "application/fhir+xml").ok
    bad = b'<Bundle xmlns="http://hl7.org/fhir"><foo value="1"/></Bundle>'
    (err,) = import_bytes(bad, "application/fhir+xml").errors
    assert err.expression == "Bundle.foo"


def test_size_limit_rejects_before_parsing() -> None:
    data = b"{" * 2000  # not even JSON: the size check comes first
    result = import_bytes(data, "application/fhir+json", limits=Limits(max_bytes=1000))
    (err,) = result.errors
    assert err.code == "too-costly"


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/fhir+xml"])
def test_entry_limit(content_type: str) -> None:
    b = bundle(3, items_per_client=2)
    data = _json(b) if "json" in content_type else to_xml(b).encode()
    result = import_bytes(data, content_type, limits=Limits(max_entries=5))
    (err,) = result.errors
    assert err.code == "too-costly"


def test_not_a_bundle_and_bad_json() -> None:
    assert import_bytes(b'{"resourceType": "Patient"}', "application/fhir+json").errors[0].code == (
        "structure"
    )
    assert import_bytes(b"[1, 2", "application/fhir+json").errors[0].code == "structure"
    assert import_bytes(b"[" * 100_000, "application/fhir+json").errors[0].code == "structure"


def test_unsupported_content_type() -> None:
    (err,) = import_bytes(b"x", "application/pdf").errors
    assert err.code == "not-supported"


def test_operation_outcome_carries_both_languages_and_the_expression() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["modifierExtension"] = [{"url": "http://example.org/x", "valueBoolean": True}]
    oo = operation_outcome(import_bytes(_json(b), "application/fhir+json"))
    (issue,) = oo["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == "not-supported"
    assert "Onbekende modifierExtension" in issue["details"]["text"]
    assert "Unknown modifierExtension" in issue["diagnostics"]
    assert issue["expression"][0].startswith("Bundle.entry[")


def test_accepted_upload_gets_an_informational_outcome() -> None:
    oo = operation_outcome(import_bytes(_json(bundle(2, 1)), "application/fhir+json"))
    (issue,) = oo["issue"]
    assert issue["severity"] == "information"
    assert "2 cliënt(en)" in issue["details"]["text"]


def test_report_lines_in_dutch_and_english() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b)["subject"] = {"reference": "urn:uuid:weg"}
    result = import_bytes(_json(b), "application/fhir+json")
    (nl,) = report_lines(result)
    (en,) = report_lines(result, lang="en")
    assert nl.startswith("FOUT: entry ")
    assert "niet gevonden" in nl
    assert en.startswith("ERROR: entry ")
    assert "not found" in en


def test_entered_in_error_agreement_is_left_off_the_list() -> None:
    b = bundle(1, items_per_client=2)
    _ta(b, 0)["status"] = "entered-in-error"
    result = import_bytes(_json(b), "application/fhir+json")
    assert result.ok
    assert [i.source_id for i in result.drafts[0].items] == ["TA-0-1"]
    assert any(w.expression is not None and w.expression.endswith(".status") for w in result.issues)


def test_only_entered_in_error_agreements_is_an_error() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b, 0)["status"] = "entered-in-error"
    assert not import_bytes(_json(b), "application/fhir+json").ok


def test_other_dispense_status_is_refused() -> None:
    b = bundle(1, items_per_client=1)
    _ta(b, 0)["status"] = "stopped"
    (err,) = import_bytes(_json(b), "application/fhir+json").errors
    assert "ext-StopType" in err.message_nl


def test_strength_from_a_single_active_ingredient_and_contained_medication() -> None:
    b = bundle(1, items_per_client=1)
    ta = _ta(b)
    ta["contained"] = [
        {
            "resourceType": "Medication",
            "id": "m1",
            "code": {"text": "LITHIUMCARBONAAT TABLET 400MG"},
            "ingredient": [
                {
                    "itemCodeableConcept": {"text": "lithiumcarbonaat"},
                    "isActive": True,
                    "strength": {
                        "numerator": {"value": 400, "unit": "mg"},
                        "denominator": {"value": 1, "unit": "stuk"},
                    },
                }
            ],
        }
    ]
    ta["medicationReference"] = {"reference": "#m1"}
    result = import_bytes(_json(b), "application/fhir+json")
    assert result.ok, result.issues
    (item,) = result.drafts[0].items
    assert item.medication_name == "LITHIUMCARBONAAT TABLET 400MG"
    assert item.strength == "400 mg"
    ta["contained"][0]["modifierExtension"] = [{"url": "http://x.org/y", "valueBoolean": True}]
    (err,) = import_bytes(_json(b), "application/fhir+json").errors
    assert err.expression is not None
    assert err.expression.endswith("contained[0].modifierExtension[0]")


def test_dosing_phases_across_dst_start_at_local_midnight() -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    ams = ZoneInfo("Europe/Amsterdam")
    b = bundle(1, items_per_client=1)
    ta = _ta(b)
    ta["extension"][1]["valuePeriod"] = {"start": "2024-03-20T00:00:00+01:00"}
    first = copy.deepcopy(ta["dosageInstruction"][0])
    first["sequence"] = 1
    first["timing"]["repeat"]["boundsDuration"] = {"value": 14, "unit": "dag", "code": "d"}
    second = copy.deepcopy(ta["dosageInstruction"][0])
    second["sequence"] = 2
    ta["dosageInstruction"] = [first, second]
    result = import_bytes(_json(b), "application/fhir+json")
    assert result.ok, result.issues
    one, two = result.drafts[0].items
    assert (one.source_id, two.source_id) == ("TA-0-0#1", "TA-0-0#2")
    # 31 March 2024 is the DST change: 14 calendar days still end at 00:00 local time
    assert one.schedule.end == datetime(2024, 4, 3, tzinfo=ams)
    assert two.schedule.start == datetime(2024, 4, 3, tzinfo=ams)
    assert one.period_end == date(2024, 4, 2)
    assert two.period_start == date(2024, 4, 3)
    assert two.period_end is None


def test_bounds_period_narrows_the_schedule() -> None:
    from datetime import date

    b = bundle(1, items_per_client=1)
    ta = _ta(b)
    ta["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
        "start": "2026-01-10",
        "end": "2026-01-20",
    }
    (item,) = import_bytes(_json(b), "application/fhir+json").drafts[0].items
    assert item.period_start == date(2026, 1, 10)
    assert item.period_end == date(2026, 1, 20)
