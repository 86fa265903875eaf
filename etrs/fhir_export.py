"""Export administrations as FHIR R4 MedicationAdministration in the MP9 (9.3) shape.

Follows the Nictiz `mp-MedicationAdministration2` examples: category SNOMED 18629005,
ext-RegistrationDateTime, ReasonForDeviation (not given = dose 0 + reason; a correction
carries 159691000146109 "foutieve registratie"), G-Standaard codes on the Medication.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from etrs.models import Administration, DoubleCheck, ListItem
from etrs.schedule import AMSTERDAM
from etrs.schemas import NOT_GIVEN_REASONS, WRONG_REGISTRATION_CODE
from etrs.service import DEFAULT_POLICY, record_status
from hub import audit
from hub.auth.models import User
from hub.auth.service import require_client_access

NICTIZ = "http://nictiz.nl/fhir/StructureDefinition/"
PROFILE = NICTIZ + "mp-MedicationAdministration2"
EXT_REGISTRATION = NICTIZ + "ext-RegistrationDateTime"
EXT_DEVIATION = NICTIZ + "ext-MedicationAdministration2.ReasonForDeviation"
SNOMED = "http://snomed.info/sct"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
CODE_OIDS = {
    "gpk": "urn:oid:2.16.840.1.113883.2.4.4.1",
    "prk": "urn:oid:2.16.840.1.113883.2.4.4.10",
    "hpk": "urn:oid:2.16.840.1.113883.2.4.4.7",
    "zi": "urn:oid:2.16.840.1.113883.2.4.4.8",
}
ROUTE_OID = "urn:oid:2.16.840.1.113883.2.4.4.9"
UNIT_OID = "urn:oid:2.16.840.1.113883.2.4.4.1.900.2"
ATC_SYSTEM = "http://www.whocc.no/atc"
FHIR_JSON = "application/fhir+json"


def _uuid(hex_id: str) -> str:
    return str(uuid.UUID(hex=hex_id))


def _name_uuid(kind: str, key: str) -> str:
    """A stable resource id derived from a carehub key (same key, same id in every export)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:carehub:{kind}:{key}"))


def _local(at: datetime) -> str:
    return at.astimezone(AMSTERDAM).isoformat()


def _num(value: Decimal) -> float | int:
    d = Decimal(value).normalize()
    return int(d) if d == d.to_integral_value() else float(d)


def _deviation(code: str, text: str | None) -> dict[str, Any]:
    if code == "other":
        concept: dict[str, Any] = {
            "coding": [{"system": NULL_FLAVOR, "code": "OTH", "display": "Overig"}]
        }
    else:
        concept = {
            "coding": [
                {"system": SNOMED, "code": code, "display": NOT_GIVEN_REASONS.get(code, code)}
            ]
        }
    if text:
        concept["text"] = text
    return {"url": EXT_DEVIATION, "valueCodeableConcept": concept}


def medication_resource(item: ListItem) -> dict[str, Any]:
    """A Medication with the item's G-Standaard codes (and ATC when known)."""
    codings = [
        {"system": CODE_OIDS[s], "code": getattr(item, s), "display": item.medication_name}
        for s in ("hpk", "prk", "gpk", "zi")
        if getattr(item, s)
    ]
    if item.atc:
        codings.append({"system": ATC_SYSTEM, "code": item.atc})
    code: dict[str, Any] = {"text": item.medication_name}
    if codings:
        code["coding"] = codings
    return {
        "resourceType": "Medication",
        "id": _name_uuid("medication", item.medication_key),
        "code": code,
    }


def _status(rec: Administration, check: DoubleCheck | None, corrected: bool) -> str:
    derived = record_status(rec, check, corrected, now=rec.recorded_at, policy=DEFAULT_POLICY)
    # A high-risk administration without its second check is not complete (MP9 has no
    # separate state for it): in-progress; a rejected check: stopped.
    return {"awaiting_check": "in-progress", "check_rejected": "stopped"}.get(derived, "completed")


def administration_resource(
    rec: Administration,
    *,
    item: ListItem,
    patient_ref: str,
    medication_ref: str,
    performer: str,
    check: DoubleCheck | None,
    checker: str | None,
    corrected: bool,
) -> dict[str, Any]:
    """One record as an MP9 MedicationAdministration."""
    extensions: list[dict[str, Any]] = [
        {"url": EXT_REGISTRATION, "valueDateTime": _local(rec.recorded_at)}
    ]
    if rec.corrects_id is not None:
        extensions.append(_deviation(WRONG_REGISTRATION_CODE, None))
        extensions[-1]["valueCodeableConcept"]["coding"][0]["display"] = (
            "foutieve registratie van medicatie"
        )
    if rec.reason_code:
        extensions.append(_deviation(rec.reason_code, rec.reason_text))
    given = rec.outcome == "given"
    amount = Decimal(rec.amount) if (given and rec.amount is not None) else Decimal(0)
    dose: dict[str, Any] = {"value": _num(amount)}
    if rec.amount_unit:
        dose["unit"] = rec.amount_unit
    if item.dose_unit_code:
        dose["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/iso21090-PQ-translation",
                "valueQuantity": {
                    "value": _num(amount),
                    "unit": rec.amount_unit or "",
                    "system": UNIT_OID,
                    "code": item.dose_unit_code,
                },
            }
        ]
    dosage: dict[str, Any] = {"dose": dose}
    if item.route_code or item.route:
        route: dict[str, Any] = {"text": item.route} if item.route else {}
        if item.route_code:
            route["coding"] = [{"system": ROUTE_OID, "code": item.route_code}]
        dosage["route"] = route
    performers: list[dict[str, Any]] = [
        {
            "actor": {
                "type": "Device" if rec.given_by == "dispenser" else "Practitioner",
                "display": performer,
            }
        }
    ]
    if check is not None and check.decision == "confirm" and checker:
        performers.append(
            {
                "function": {"text": "dubbele controle"},
                "actor": {"type": "Practitioner", "display": checker},
            }
        )
    effective = rec.actual_at or rec.planned_at or rec.recorded_at
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": _uuid(rec.id),
        "meta": {"profile": [PROFILE]},
        "extension": extensions,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(rec.id)}"}],
        "status": _status(rec, check, corrected),
        "category": {
            "coding": [
                {"system": SNOMED, "code": "18629005", "display": "toediening van medicatie"}
            ]
        },
        "medicationReference": {
            "reference": medication_ref,
            "type": "Medication",
            "display": item.medication_name,
        },
        "subject": {"reference": patient_ref, "type": "Patient"},
        "effectiveDateTime": _local(effective),
        "performer": performers,
        "dosage": dosage,
    }
    if rec.prn and rec.prn_reason:
        resource["reasonCode"] = [{"text": rec.prn_reason}]
    # The administration agreement (toedieningsafspraak) from the pharmacy's list.
    supporting: list[dict[str, Any]] = [
        {"type": "MedicationDispense", "identifier": {"value": item.source_id}}
    ]
    if rec.corrects_id is not None:
        supporting.append(
            {
                "type": "MedicationAdministration",
                "identifier": {
                    "system": "urn:ietf:rfc:3986",
                    "value": f"urn:uuid:{_uuid(rec.corrects_id)}",
                },
            }
        )
    resource["supportingInformation"] = supporting
    return resource


def export_bundle(
    session: Session,
    *,
    user: User,
    client_id: str,
    start: datetime,
    end: datetime,
    source: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """FHIR R4 Bundle of a client's administrations (actual or planned time in [start, end))."""
    client = require_client_access(session, user, client_id)
    recs = [
        r
        for r in session.scalars(
            select(Administration)
            .where(Administration.client_id == client_id)
            .order_by(Administration.recorded_at, Administration.id)
        )
        if start <= (r.actual_at or r.planned_at or r.recorded_at) < end
    ]
    corrected_ids = set(
        session.scalars(
            select(Administration.corrects_id).where(
                Administration.client_id == client_id, Administration.corrects_id.is_not(None)
            )
        )
    )
    patient_id = _name_uuid("client", client.id)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "name": [{"text": client.display_name}],
    }
    if client.bsn:
        patient["identifier"] = [{"system": BSN_SYSTEM, "value": client.bsn}]
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{patient_id}", "resource": patient}]
    medications: dict[str, str] = {}
    names: dict[str, str] = {}

    def display(actor: str) -> str:
        if actor not in names:
            if actor.startswith("dispenser:"):
                names[actor] = "medicijndispenser " + actor.removeprefix("dispenser:")
            else:
                u = session.get(User, actor)
                names[actor] = u.display_name if u else actor
        return names[actor]

    body: list[dict[str, Any]] = []
    for rec in recs:
        item = session.get(ListItem, rec.item_id)
        if item is None:
            continue
        if item.medication_key not in medications:
            med = medication_resource(item)
            medications[item.medication_key] = f"urn:uuid:{med['id']}"
            entries.append({"fullUrl": f"urn:uuid:{med['id']}", "resource": med})
        check = session.scalar(select(DoubleCheck).where(DoubleCheck.administration_id == rec.id))
        resource = administration_resource(
            rec,
            item=item,
            patient_ref=f"urn:uuid:{patient_id}",
            medication_ref=medications[item.medication_key],
            performer=display(rec.recorded_by),
            check=check,
            checker=display(check.checker_id) if check else None,
            corrected=rec.id in corrected_ids,
        )
        body.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    audit.record(
        session,
        actor=user.id,
        action="etrs.export.read",
        object_type="client",
        object_id=client_id,
        client_id=client_id,
        source=source,
        detail={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "format": FHIR_JSON,
            "records": len(body),
        },
        at=now,
    )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": _local(now or datetime.now(UTC)),
        "entry": entries + body,
    }
