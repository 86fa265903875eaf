"""FHIR R4 export in the MP9 shape, parsed with fhir.resources.R4B, compared to Nictiz examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etrs_world import World, item
from fhir.resources.R4B.bundle import Bundle

from etrs.fhir_export import EXT_DEVIATION, EXT_REGISTRATION, PROFILE, export_bundle
from etrs.schemas import WRONG_REGISTRATION_CODE, CheckFacts
from etrs.service import correct_administration, decide_check, moments_for, sign_off
from hub.auth.service import NotFoundError

MP9 = Path(__file__).resolve().parents[4] / "shared" / "data" / "mp9"
NOW = datetime(2026, 3, 21, 7, 5, tzinfo=UTC)


def _examples() -> list[dict[str, Any]]:
    pytest.importorskip("lxml")
    files = sorted(MP9.glob("*-MTD-*.xml"))
    if not files:
        pytest.skip("Nictiz MP9 examples not available")
    out = []
    for f in files:
        bundle = Bundle.model_validate_xml(f.read_bytes())
        out += [
            e.resource.model_dump(mode="json")
            for e in bundle.entry or []
            if e.resource.__resource_type__ == "MedicationAdministration"
        ]
    return out


def _ours(world: World) -> list[dict[str, Any]]:
    stored = world.store(
        [
            item("a", "Metoprolol 50mg", times=("08:00",)),
            item("b", "Omeprazol 20mg", times=("08:00",)),
            item("i", "Insuline aspart", atc="A10AB05", unit="E", dose="8", in_gds=False),
            item("c", "Furosemide 40mg", times=("08:00",)),
        ]
    )
    for u in (world.anna, world.bram):
        world.ack(u, stored.version.id)
    ms = {
        m.medication_name: m
        for m in moments_for(
            world.session, user=world.anna, day=date(2026, 3, 21), source="t", now=NOW
        )
    }

    def sign(name: str, **kw: Any) -> Any:
        return sign_off(
            world.session,
            user=world.anna,
            client_id=world.client.id,
            moment_key=ms[name].key,
            source="t",
            now=NOW,
            **kw,
        )

    sign("Metoprolol 50mg", outcome="given")
    sign("Omeprazol 20mg", outcome="not_given", reason_code="406149000")
    wrong = sign("Furosemide 40mg", outcome="given")
    correct_administration(
        world.session,
        user=world.anna,
        administration_id=wrong.id,
        outcome="not_given",
        reason_code="other",
        reason_text="niet thuis",
        source="t",
        now=NOW + timedelta(minutes=5),
    )
    ins = sign("Insuline aspart", outcome="given")
    decide_check(
        world.session,
        checker=world.bram,
        administration_id=ins.id,
        decision="confirm",
        seen=CheckFacts(
            client_id=world.client.id,
            medication_key=ms["Insuline aspart"].medication_key,
            amount=Decimal(8),
            moment_key=ms["Insuline aspart"].key,
        ),
        method="same_device",
        source="t",
        now=NOW + timedelta(minutes=1),
    )
    bundle = export_bundle(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        start=NOW - timedelta(days=1),
        end=NOW + timedelta(days=1),
        source="t",
        now=NOW + timedelta(minutes=10),
    )
    parsed = Bundle.model_validate(bundle)  # valid FHIR R4 (R4B models)
    assert parsed.type == "collection"
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
    ]


def _deviations(r: dict[str, Any]) -> list[str]:
    return [
        c.get("code")
        for e in r["extension"]
        if e["url"] == EXT_DEVIATION
        for c in e["valueCodeableConcept"]["coding"]
    ]


def test_export_matches_the_mp9_medication_administration_shape(world: World) -> None:
    examples = _examples()
    ours = _ours(world)
    assert len(ours) == 5
    example_keys = set().union(*(set(e) for e in examples))
    example_ext = {x["url"] for e in examples for x in e.get("extension", [])}
    for r in ours:
        assert set(r) - {"reasonCode"} <= example_keys
        assert {x["url"] for x in r["extension"]} <= example_ext
        assert r["meta"]["profile"] == examples[0]["meta"]["profile"] == [PROFILE]
        assert r["category"]["coding"][0]["code"] == examples[0]["category"]["coding"][0]["code"]
        assert r["extension"][0]["url"] == EXT_REGISTRATION
    by_dose = {(r["dosage"]["dose"]["value"], tuple(_deviations(r))) for r in ours}
    assert by_dose == {
        (1, ()),  # given
        (0, ("406149000",)),  # not given: dose 0 + reason, as in the examples
        (1, ()),  # the wrong registration stays as it was
        (0, (WRONG_REGISTRATION_CODE, "OTH")),  # its correction
        (8, ()),
    }
    insulin = next(r for r in ours if r["dosage"]["dose"]["value"] == 8)
    assert [p.get("function", {}).get("text") for p in insulin["performer"]] == [
        None,
        "dubbele controle",
    ]


def test_example_not_given_records_use_dose_zero_and_a_reason() -> None:
    examples = _examples()
    not_given = [e for e in examples if e["dosage"]["dose"]["value"] == 0]
    assert not_given
    assert all(_deviations(e) for e in not_given)


def test_export_is_scoped_to_the_users_clients(world: World) -> None:
    with pytest.raises(NotFoundError):
        export_bundle(
            world.session,
            user=world.dirk,
            client_id=world.client.id,
            start=NOW,
            end=NOW + timedelta(days=1),
            source="t",
        )
