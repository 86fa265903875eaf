"""Synthetic MP9 bundles and CSV lists for tests and benchmarks (fake clients, valid BSNs)."""

from __future__ import annotations

import random
from typing import Any
from xml.sax.saxutils import quoteattr

from etrs.importers.mp9 import (
    CAT_TA,
    EXT_PERIOD,
    EXT_PQ_TRANSLATION,
    EXT_RENDERED,
    OID_GPK,
    OID_HPK,
    OID_PRK,
    OID_ROUTE,
    OID_UNIT,
    SNOMED,
)

_PRODUCTS = [
    ("METFORMINE TABLET 500MG", "1234567", "12345", "54321"),
    ("OMEPRAZOL CAPSULE MSR 20MG", "2345678", "23456", "65432"),
    ("PARACETAMOL TABLET 500MG", "3456789", "34567", "76543"),
    ("METOPROLOL TABLET MGA 50MG", "4567890", "45678", "87654"),
    ("ACENOCOUMAROL TABLET 1MG", "5678901", "56789", "98765"),
    ("FUROSEMIDE TABLET 40MG", "6789012", "67890", "19876"),
]
_TIMES = [["08:00:00"], ["08:00:00", "20:00:00"], ["08:00:00", "12:00:00", "18:00:00"]]


def fake_bsn(n: int) -> str:
    """The n-th 9-digit number starting 99 that passes the elfproef (not a real BSN)."""
    k = 0
    base = 990_000_00 + n * 11
    while True:
        head = f"{base + k:08d}"[-8:]
        total = sum(int(c) * w for c, w in zip(head, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10 and head != "00000000":
            return head + str(check)
        k += 1


def bundle(clients: int, items_per_client: int = 4, seed: int = 1) -> dict[str, Any]:
    """A transaction Bundle with one Patient and `items_per_client` TAs per client."""
    rng = random.Random(seed)
    entries: list[dict[str, Any]] = []
    meds: list[str] = []
    for p, (name, hpk, prk, gpk) in enumerate(_PRODUCTS):
        url = f"urn:uuid:00000000-0000-4000-8000-{p:012d}"
        meds.append(url)
        entries.append(
            {
                "fullUrl": url,
                "resource": {
                    "resourceType": "Medication",
                    "id": f"med-{p}",
                    "code": {
                        "coding": [
                            {"system": OID_HPK, "code": hpk, "display": name, "userSelected": True},
                            {"system": OID_PRK, "code": prk, "display": name},
                            {"system": OID_GPK, "code": gpk, "display": name},
                        ],
                        "text": name,
                    },
                },
            }
        )
    for c in range(clients):
        purl = f"urn:uuid:00000000-0000-4000-9000-{c:012d}"
        entries.append(
            {
                "fullUrl": purl,
                "resource": {
                    "resourceType": "Patient",
                    "id": f"pat-{c}",
                    "identifier": [
                        {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": fake_bsn(c)}
                    ],
                    "name": [{"text": f"Testcliënt {c}"}],
                },
            }
        )
        for i in range(items_per_client):
            times = rng.choice(_TIMES)
            dose = rng.choice([1, 2])
            entries.append(
                {
                    "fullUrl": f"urn:uuid:00000000-0000-4000-a{i:03d}-{c:012d}",
                    "resource": {
                        "resourceType": "MedicationDispense",
                        "id": f"ta-{c}-{i}",
                        "extension": [
                            {"url": EXT_RENDERED, "valueString": f"{dose} stuk(s)"},
                            {
                                "url": EXT_PERIOD,
                                "valuePeriod": {"start": "2026-01-05T00:00:00+01:00"},
                            },
                        ],
                        "identifier": [
                            {
                                "system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1",
                                "value": f"TA-{c}-{i}",
                            }
                        ],
                        "status": "unknown",
                        "category": {"coding": [{"system": SNOMED, "code": CAT_TA}]},
                        "medicationReference": {"reference": meds[(c + i) % len(meds)]},
                        "subject": {"reference": purl},
                        "dosageInstruction": [
                            {
                                "timing": {"repeat": {"timeOfDay": times}},
                                "route": {
                                    "coding": [
                                        {"system": OID_ROUTE, "code": "9", "display": "oraal"}
                                    ]
                                },
                                "doseAndRate": [
                                    {
                                        "doseQuantity": {
                                            "value": dose,
                                            "unit": "stuk",
                                            "system": "http://unitsofmeasure.org",
                                            "code": "1",
                                            "extension": [
                                                {
                                                    "url": EXT_PQ_TRANSLATION,
                                                    "valueQuantity": {
                                                        "value": dose,
                                                        "unit": "stuk",
                                                        "system": OID_UNIT,
                                                        "code": "245",
                                                    },
                                                }
                                            ],
                                        }
                                    }
                                ],
                            }
                        ],
                    },
                }
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def to_xml(resource: dict[str, Any]) -> str:
    """Serialize simple FHIR JSON (no primitive extensions) as FHIR XML."""
    out: list[str] = []
    rtype = resource["resourceType"]
    out.append(f'<{rtype} xmlns="http://hl7.org/fhir">')
    _xml_body(resource, out, is_resource=True)
    out.append(f"</{rtype}>")
    return "".join(out)


def _xml_body(obj: dict[str, Any], out: list[str], *, is_resource: bool) -> None:
    for key, value in obj.items():
        if key == "resourceType" or (key in ("url", "id") and not is_resource):
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, dict) and "resourceType" in v:
                out.append(f"<{key}><{v['resourceType']}>")
                _xml_body(v, out, is_resource=True)
                out.append(f"</{v['resourceType']}></{key}>")
            elif isinstance(v, dict):
                attrs = "".join(f" {a}={quoteattr(str(v[a]))}" for a in ("id", "url") if a in v)
                out.append(f"<{key}{attrs}>")
                _xml_body(v, out, is_resource=False)
                out.append(f"</{key}>")
            else:
                text = str(v).lower() if isinstance(v, bool) else str(v)
                out.append(f"<{key} value={quoteattr(text)}/>")
