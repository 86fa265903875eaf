"""MP9 (Medicatieproces 9.3, FHIR R4) Bundle → administration-list drafts.

A pharmacy's administration list is the set of toedieningsafspraken (TA:
MedicationDispense with category SNOMED 422037009) per patient. Bundles without TA are
refused (docs/adr/0008-mp9-bundles-without-ta.md). Every TA is validated with
fhir.resources R4B; anything whose meaning we cannot represent rejects the upload, since
a list that silently drops a modifier or a dose phase is worse than no list.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from etrs.bsn import is_valid_bsn
from etrs.drafts import DAY_PART_ORDER, ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule
from etrs.importers.fhir_xml import FhirXmlError, element_fields, parse_xml
from etrs.importers.limits import Limits
from etrs.importers.report import Format, ImportResult, Issue, IssueCode, rejected

AMS = ZoneInfo("Europe/Amsterdam")
SNOMED = "http://snomed.info/sct"
NICTIZ = "http://nictiz.nl/fhir/StructureDefinition/"
EXT_STOP = NICTIZ + "ext-StopType"
EXT_CYCLE = NICTIZ + "ext-InstructionsForUse.RepeatPeriodCyclicalSchedule"
EXT_PERIOD = NICTIZ + "ext-TimeInterval.Period"
EXT_DURATION = NICTIZ + "ext-TimeInterval.Duration"
EXT_CONDITION = NICTIZ + "ext-PeriodOfUse.Condition"
EXT_RENDERED = NICTIZ + "ext-RenderedDosageInstruction"
EXT_REGISTERED = NICTIZ + "ext-RegistrationDateTime"
EXT_TREATMENT = NICTIZ + "ext-PharmaceuticalTreatment.Identifier"
EXT_RELATION_TA = NICTIZ + "ext-RelationAdministrationAgreement"
EXT_REASON = NICTIZ + "ext-AdministrationAgreement.ReasonModificationOrDiscontinuation"
EXT_DISTRIBUTION = NICTIZ + "ext-MedicationDispense.DistributionForm"
EXT_PRODUCT_DESC = NICTIZ + "ext-PharmaceuticalProduct.Description"
EXT_TIMING_EXACT = "http://hl7.org/fhir/StructureDefinition/timing-exact"
EXT_PQ_TRANSLATION = "http://hl7.org/fhir/StructureDefinition/iso21090-PQ-translation"

# the list store keeps source ids in 200 characters; leave room for a "#seq.n" suffix
MAX_SOURCE_ID = 190

# Modifier extensions we understand on a TA; any other one changes meaning → reject
KNOWN_TA_MODIFIERS = frozenset({EXT_STOP, EXT_CYCLE})

CAT_TA = "422037009"  # toedieningsafspraak
# MP9 TAs carry status "unknown" (their state follows from period and stop type)
TA_STATUSES = frozenset({"unknown", "completed", "in-progress", "preparation"})
CAT_MA = "33633005"  # medicatieafspraak (voorschrijven van geneesmiddel)

OID_ZI = "urn:oid:2.16.840.1.113883.2.4.4.8"
OID_HPK = "urn:oid:2.16.840.1.113883.2.4.4.7"
OID_PRK = "urn:oid:2.16.840.1.113883.2.4.4.10"
OID_GPK = "urn:oid:2.16.840.1.113883.2.4.4.1"
ATC_SYSTEMS = frozenset({"http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"})
OID_ROUTE = "urn:oid:2.16.840.1.113883.2.4.4.9"  # G-Standaard thesaurus 7, toedieningswegen
OID_UNIT = "urn:oid:2.16.840.1.113883.2.4.4.1.900.2"  # G-Standaard thesaurus 2820, eenheden
BSN_SYSTEMS = frozenset(
    {"http://fhir.nl/fhir/NamingSystem/bsn", "urn:oid:2.16.840.1.113883.2.4.6.3"}
)

# ext-StopType (MP9 9.3): stopped / paused / cancelled (geannuleerd = never valid)
STOP_TYPES: dict[str, tuple[Literal["stopped", "paused"], str | None]] = {
    "410546004": ("stopped", None),
    "385655000": ("paused", None),
    "89925002": ("stopped", "geannuleerd"),
}

# UCUM → the G-Standaard unit as shown to nurses, when no G-Standaard translation is sent
UCUM_TO_GSTD: dict[str, str] = {
    "1": "stuk",
    "g": "gram",
    "mg": "mg",
    "ug": "microgram",
    "ml": "ml",
    "mL": "ml",
    "[drp]": "druppel",
    "[iU]": "IE",
    "[IU]": "IE",
    "U": "eenheid",
    "mmol": "mmol",
}

WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
DAY_PARTS = {"MORN": "ochtend", "AFT": "middag", "EVE": "avond", "NIGHT": "nacht"}

_USED_TYPES = frozenset(
    {"MedicationDispense", "MedicationRequest", "MedicationAdministration", "Medication", "Patient"}
)


class _Reject(Exception):
    """One problem with one resource; becomes an Issue."""

    def __init__(
        self, nl: str, en: str, expr: str | None = None, code: IssueCode = "not-supported"
    ) -> None:
        super().__init__(en)
        self.nl, self.en, self.expr, self.code = nl, en, expr, code


@dataclass
class _Entry:
    index: int
    full_url: str | None
    rtype: str
    raw: dict[str, Any]
    model: Any = None
    checked: bool = False  # modifierExtension check done


@dataclass
class _Ta:
    entry: _Entry
    own_id: str
    base_id: str  # the TA this one describes: itself, or the TA a stop-TA ends
    patient: _Entry
    registered: datetime | None
    treatment: str | None
    relation: str | None
    stop: tuple[Literal["stopped", "paused"], str | None] | None
    reason: str | None
    period_start: datetime | None
    items: list[ItemDraft] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


@cache
def _model(rtype: str) -> type[Any]:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(rtype)


Progress = Callable[[int, int], None]  # (entries validated, total entries)


def parse_fhir(
    data: bytes,
    content_type: str,
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Parse an MP9 Bundle (application/fhir+json or application/fhir+xml) into drafts."""
    limits = limits or Limits()
    fmt: Format = "fhir+xml" if "xml" in content_type.lower() else "fhir+json"
    if len(data) > limits.max_bytes:
        return rejected(
            fmt,
            [
                Issue(
                    "error",
                    "too-costly",
                    f"Bestand is te groot ({len(data)} bytes, maximaal {limits.max_bytes})",
                    f"File too large ({len(data)} bytes, limit {limits.max_bytes})",
                )
            ],
        )
    if fmt == "fhir+xml":
        # cheap pre-count so a huge bundle is refused before the tree is built
        if data.count(b"<entry") > limits.max_entries:
            return rejected(fmt, [_too_many(limits)])
        try:
            obj: Any = parse_xml(data, max_depth=limits.max_depth)
        except FhirXmlError as exc:
            code: IssueCode = "security" if exc.security else "structure"
            return rejected(
                fmt,
                [Issue("error", code, exc.message_nl, exc.message_en, expression=exc.expression)],
            )
    else:
        try:
            text = data.decode("utf-8-sig")
            obj = json.loads(text, parse_float=Decimal)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return rejected(
                fmt,
                [
                    Issue(
                        "error",
                        "structure",
                        "Geen geldige JSON (UTF-8)",
                        f"Not valid UTF-8 JSON: {str(exc)[:200]}",
                    )
                ],
            )
    return parse_bundle(obj, fmt, limits=limits, progress=progress)


def _too_many(limits: Limits) -> Issue:
    return Issue(
        "error",
        "too-costly",
        f"Te veel entries in de Bundle (maximaal {limits.max_entries})",
        f"Too many Bundle entries (limit {limits.max_entries})",
    )


def parse_bundle(
    obj: Any, fmt: Format, *, limits: Limits | None = None, progress: Progress | None = None
) -> ImportResult:
    """Map an already-decoded FHIR JSON Bundle to drafts (all-or-nothing)."""
    limits = limits or Limits()
    if not isinstance(obj, dict) or obj.get("resourceType") != "Bundle":
        return rejected(
            fmt,
            [
                Issue(
                    "error",
                    "structure",
                    "Verwacht een FHIR Bundle",
                    "Expected a FHIR Bundle",
                    expression="Bundle",
                )
            ],
        )
    raw_entries = obj.get("entry", [])
    if not isinstance(raw_entries, list):
        return rejected(
            fmt,
            [
                Issue(
                    "error",
                    "structure",
                    "entry moet een lijst zijn",
                    "entry must be a list",
                    expression="Bundle.entry",
                )
            ],
        )
    if len(raw_entries) > limits.max_entries:
        return rejected(fmt, [_too_many(limits)])
    issues: list[Issue] = []
    shell = {k: v for k, v in obj.items() if k != "entry"}
    bundle_ts: datetime | None = None
    try:
        bundle = _model("Bundle").model_validate(shell)
        bundle_ts = bundle.timestamp if isinstance(bundle.timestamp, datetime) else None
    except ValidationError as exc:
        issues.extend(_validation_issues(exc, "Bundle", None, None))
    except Exception as exc:
        issues.append(_generic_invalid("Bundle", None, None, exc))

    entries: list[_Entry] = []
    memo: dict[Any, Any] = {}
    for i, e in enumerate(raw_entries):
        if progress is not None and i % 500 == 0:
            progress(i, len(raw_entries))
        path = f"Bundle.entry[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            issues.append(
                Issue(
                    "error",
                    "structure",
                    "Entry zonder resource",
                    "Entry without a resource",
                    entry=i,
                    expression=path,
                )
            )
            continue
        full_url = e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None
        res = e["resource"]
        rtype = res.get("resourceType")
        if not isinstance(rtype, str):
            issues.append(
                Issue(
                    "error",
                    "structure",
                    "Resource zonder resourceType",
                    "Resource without resourceType",
                    entry=i,
                    full_url=full_url,
                    expression=f"{path}.resource",
                )
            )
            continue
        entry = _Entry(i, full_url, rtype, res)
        if rtype in _USED_TYPES:
            try:
                entry.model = _validate(rtype, res, memo)
            except ValidationError as exc:
                issues.extend(_validation_issues(exc, f"{path}.resource", i, full_url))
                continue
            except Exception as exc:
                # fhir.resources may raise anything on hostile input; it is still invalid input
                issues.append(_generic_invalid(f"{path}.resource", i, full_url, exc))
                continue
        entries.append(entry)
    if issues:
        return rejected(fmt, issues, {"entries": len(raw_entries)})
    return _map_entries(entries, fmt, bundle_ts)


def _validate(rtype: str, res: dict[str, Any], memo: dict[Any, Any]) -> Any:
    """Validate one resource with fhir.resources R4B, reusing validated elements.

    A pharmacy's list repeats most elements across clients (the category, the medication
    reference, "1 stuk om 08:00, oraal", the period), and building the R4B model of each
    element is most of the cost. Each top-level complex element is validated once per
    upload with the element's own R4B type, exactly as the resource model would validate
    it, and the model is handed to the resource. Any failure falls back to validating the
    raw resource, so the error names the element inside the resource.
    """
    klass: Any = _model(rtype)
    try:
        fields = element_fields(klass)
        prepared: dict[str, Any] = {}
        for name, value in res.items():
            spec = fields.get(name)
            if spec is None or spec.kind != "complex" or not value:
                prepared[name] = value
            elif isinstance(value, dict):
                prepared[name] = _element(spec.type_name, value, memo)
            elif spec.is_list and isinstance(value, list):
                prepared[name] = [
                    _element(spec.type_name, v, memo) if isinstance(v, dict) else v for v in value
                ]
            else:
                prepared[name] = value
        return klass.model_validate(prepared)
    except Exception:
        return klass.model_validate(res)


def _element(type_name: str, value: dict[str, Any], memo: dict[Any, Any]) -> Any:
    # the XML reader hands equal elements over as one shared dict: known by identity
    # (pinned in the memo, so the id cannot be reused while the memo lives)
    seen = memo.get(id(value))
    if seen is not None and seen[0] is value and seen[1] == type_name:
        return seen[2]
    # repr tells str from int from Decimal from bool, so equal keys mean equal JSON values
    key = (type_name, repr(value))
    model = memo.get(key)
    if model is None:
        model = memo[key] = _model(type_name).model_validate(value)
    memo[id(value)] = (value, type_name, model)
    return model


def _generic_invalid(path: str, i: int | None, full_url: str | None, exc: Exception) -> Issue:
    return Issue(
        "error",
        "invalid",
        "Ongeldige FHIR-inhoud",
        f"Invalid FHIR content: {str(exc)[:300]}",
        entry=i,
        full_url=full_url,
        expression=path,
    )


def _validation_issues(
    exc: ValidationError, base: str, i: int | None, full_url: str | None
) -> list[Issue]:
    out: list[Issue] = []
    for err in exc.errors()[:20]:
        expr = base
        for part in err.get("loc", ()):
            if isinstance(part, int):
                expr += f"[{part}]"
            elif part and not str(part).startswith("__"):
                expr += f".{part}"
        msg = str(err.get("msg", "invalid"))
        out.append(
            Issue(
                "error",
                "invalid",
                f"Ongeldige waarde: {msg}",
                f"Invalid value: {msg}",
                entry=i,
                full_url=full_url,
                expression=expr,
            )
        )
    return out


# ---------------------------------------------------------------- helpers on R4B models


def _ext(elem: Any, url: str, attr: str = "extension") -> Any:
    for e in getattr(elem, attr, None) or []:
        if e.url == url:
            return e
    return None


def _coding(cc: Any, system: str | None = None) -> Any:
    for c in (cc.coding or []) if cc is not None else []:
        if system is None or c.system == system:
            return c
    return None


def _cc_text(cc: Any) -> str | None:
    if cc is None:
        return None
    if cc.text:
        return str(cc.text)
    for c in cc.coding or []:
        if c.display:
            return str(c.display)
    return None


def _ident_key(ident: Any) -> str | None:
    if ident is None or not ident.value:
        return None
    return f"{ident.system or ''}|{ident.value}"


def _as_dt(value: Any, *, end: bool = False) -> datetime | None:
    """FHIR date/dateTime → aware datetime (dates at Amsterdam midnight)."""
    if isinstance(value, datetime):
        # wall-clock schedules live in Europe/Amsterdam; FHIR gives fixed offsets
        return value.astimezone(AMS) if value.tzinfo else value.replace(tzinfo=AMS)
    if isinstance(value, date):
        d = value + timedelta(days=1) if end else value
        return datetime.combine(d, time(0), tzinfo=AMS)
    return None


def _last_day(end: datetime) -> date:
    """Inclusive last calendar day (Amsterdam) of a period ending at `end`."""
    local = end.astimezone(AMS)
    if local.time() == time(0):
        return local.date() - timedelta(days=1)
    return local.date()


_DAYS_PER_UNIT = {"d": Decimal(1), "wk": Decimal(7), "h": Decimal(1) / 24, "min": Decimal(1) / 1440}


def _quantity_days(q: Any, expr: str) -> Decimal:
    unit = q.code or q.unit
    if q.value is None or unit not in _DAYS_PER_UNIT:
        raise _Reject(
            f"Duur in eenheid '{unit}' wordt niet ondersteund",
            f"Duration unit '{unit}' is not supported",
            expr,
        )
    return Decimal(q.value) * _DAYS_PER_UNIT[unit]


def _add_duration(start: datetime, q: Any, expr: str) -> datetime:
    unit = q.code or q.unit
    if unit in ("mo", "a") and q.value is not None and Decimal(q.value) == int(q.value):
        months = int(q.value) * (12 if unit == "a" else 1)
        local = start.astimezone(AMS)
        y, m = divmod(local.month - 1 + months, 12)
        day = min(local.day, _month_len(local.year + y, m + 1))
        return local.replace(year=local.year + y, month=m + 1, day=day)
    return _plus_days(start, _quantity_days(q, expr))


def _plus_days(start: datetime, days: Decimal) -> datetime:
    """Add days as calendar days in Amsterdam, so a period across DST ends at local midnight."""
    local = start.astimezone(AMS)
    whole = int(days)
    # zoneinfo datetimes add as wall-clock time; the fraction is elapsed time
    return local + timedelta(days=whole) + timedelta(seconds=float((days - whole) * 86400))


_PER_DAY = {"h": 24, "min": 1440, "s": 86400}


def _frequency(freq: Any, period: Any, unit: Any, expr: str) -> tuple[int, Decimal]:
    """frequency per period → (count, period in days), keeping sub-day periods exact."""
    count = int(freq)
    per = _dec(period)
    if per <= 0:
        raise _Reject(
            "period moet groter dan 0 zijn", "period must be greater than 0", expr, "value"
        )
    if unit in _PER_DAY:
        # "every 8 hours" = 3 times per day: keep the schedule in whole days when exact
        per_day = Fraction(count * _PER_DAY[str(unit)]) / Fraction(per)
        if per_day.denominator == 1:
            return int(per_day), Decimal(1)
        return count, (per / _PER_DAY[str(unit)]).quantize(Decimal("0.000001"))
    if unit not in _DAYS_PER_UNIT:
        raise _Reject(
            f"Periode-eenheid '{unit}' wordt niet ondersteund",
            f"Period unit '{unit}' is not supported",
            expr,
        )
    return count, per * _DAYS_PER_UNIT[str(unit)]


def _month_len(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _int_days(value: Decimal, what_nl: str, what_en: str, expr: str) -> int:
    if value != value.to_integral_value() or value < 1:
        raise _Reject(
            f"{what_nl} moet een geheel aantal dagen zijn",
            f"{what_en} must be a whole number of days",
            expr,
        )
    return int(value)


def _unit(q: Any) -> tuple[str, str | None]:
    """G-Standaard unit (thesaurus 2820) from the PQ translation, else from UCUM."""
    tr = _ext(q, EXT_PQ_TRANSLATION)
    if tr is not None and tr.valueQuantity is not None and tr.valueQuantity.system == OID_UNIT:
        unit = str(tr.valueQuantity.unit or UCUM_TO_GSTD.get(q.code or "", q.unit or ""))
        if unit.lower() in ("stuk", "stuks"):
            unit = "stuk"
        return unit, (str(tr.valueQuantity.code) if tr.valueQuantity.code else None)
    unit = UCUM_TO_GSTD.get(q.code or "") or q.unit or q.code or "stuk"
    if str(unit).lower() in ("stuk", "stuks"):
        unit = "stuk"
    return str(unit), None


def _dec(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))


# ---------------------------------------------------------------- mapping


def _map_entries(entries: list[_Entry], fmt: Format, bundle_ts: datetime | None) -> ImportResult:
    by_ref: dict[str, _Entry] = {}
    for e in entries:
        if e.full_url:
            by_ref[e.full_url] = e
        rid = e.raw.get("id")
        if isinstance(rid, str):
            by_ref.setdefault(f"{e.rtype}/{rid}", e)

    tas: list[_Entry] = []
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        counts[e.rtype] += 1
        if e.rtype == "MedicationDispense":
            cat = _coding(e.model.category, SNOMED)
            if cat is not None and cat.code == CAT_TA:
                tas.append(e)
    stats = {"entries": len(entries), "ta": len(tas)}
    if not tas:
        return rejected(fmt, [_no_ta_issue(counts)], stats)

    issues: list[Issue] = []
    warnings: list[Issue] = []
    parsed: list[_Ta] = []
    for e in tas:
        status = str(e.model.status or "unknown")
        if status == "entered-in-error":
            # registered by mistake: it is not part of the list (a resend shows it gone)
            warnings.append(
                Issue(
                    "warning",
                    "informational",
                    "Toedieningsafspraak met status 'entered-in-error' is niet op de lijst gezet",
                    "Administration agreement with status 'entered-in-error' left off the list",
                    entry=e.index,
                    full_url=e.full_url,
                    expression=f"Bundle.entry[{e.index}].resource.status",
                )
            )
            continue
        if status not in TA_STATUSES:
            issues.append(
                Issue(
                    "error",
                    "not-supported",
                    f"Status '{status}' bij een toedieningsafspraak wordt niet ondersteund; "
                    "MP9 gebruikt 'unknown' en geeft stoppen aan met ext-StopType",
                    f"Status '{status}' on an administration agreement is not supported; MP9 "
                    "uses 'unknown' and marks stops with ext-StopType",
                    entry=e.index,
                    full_url=e.full_url,
                    expression=f"Bundle.entry[{e.index}].resource.status",
                )
            )
            continue
        try:
            ta = _parse_ta(e, by_ref)
        except _Reject as r:
            issues.append(
                Issue(
                    "error",
                    r.code,
                    r.nl,
                    r.en,
                    entry=e.index,
                    full_url=e.full_url,
                    expression=r.expr,
                )
            )
            continue
        except (OverflowError, ArithmeticError) as exc:
            # e.g. a duration of 10^30 weeks: valid FHIR, not a date anyone can schedule
            issues.append(
                Issue(
                    "error",
                    "value",
                    "Waarde buiten het bruikbare bereik (datum of getal)",
                    f"Value out of usable range (date or number): {exc}",
                    entry=e.index,
                    full_url=e.full_url,
                    expression=f"Bundle.entry[{e.index}].resource",
                )
            )
            continue
        except ValidationError as exc:
            issues.extend(
                Issue(
                    "error",
                    "invalid",
                    f"Waarde past niet in de toedienlijst: {err['msg']}",
                    f"Value does not fit the administration list: {err['msg']}",
                    entry=e.index,
                    full_url=e.full_url,
                    expression=f"Bundle.entry[{e.index}].resource",
                )
                for err in exc.errors()[:5]
            )
            continue
        parsed.append(ta)
        warnings.extend(ta.warnings)
    ignored = counts.get("MedicationRequest", 0) + counts.get("MedicationAdministration", 0)
    ignored += counts.get("MedicationDispense", 0) - len(tas)
    if ignored:
        warnings.append(
            Issue(
                "warning",
                "informational",
                f"{ignored} resource(s) die geen toedieningsafspraak zijn (medicatieafspraken, "
                "toedieningen, verstrekkingen) zijn niet in de toedienlijst opgenomen",
                f"{ignored} resource(s) that are not administration agreements (medication "
                "agreements, administrations, dispenses) were not put on the list",
            )
        )
    if not issues and not parsed:
        issues.append(
            Issue(
                "error",
                "required",
                "Geen bruikbare toedieningsafspraken in de Bundle",
                "No usable administration agreements in the Bundle",
                expression="Bundle.entry",
            )
        )
    if issues:
        return rejected(fmt, issues + warnings, stats)

    drafts, client_issues = _build_clients(parsed, bundle_ts)
    if client_issues:
        return rejected(fmt, client_issues + warnings, stats)
    stats["clients"] = len(drafts)
    stats["items"] = sum(len(d.items) for d in drafts)
    return ImportResult(format=fmt, drafts=tuple(drafts), issues=tuple(warnings), stats=stats)


def _no_ta_issue(counts: dict[str, int]) -> Issue:
    if counts.get("MedicationRequest"):
        return Issue(
            "error",
            "not-supported",
            "De Bundle bevat alleen medicatieafspraken (voorschrijver) en geen "
            "toedieningsafspraken. Een toedienlijst komt van de apotheek: stuur de "
            "toedieningsafspraken (MedicationDispense, categorie 422037009). Zie ADR 0008.",
            "The Bundle holds medication agreements (prescriber) but no administration "
            "agreements. An administration list comes from the pharmacy: send the "
            "administration agreements (MedicationDispense, category 422037009). See ADR 0008.",
            expression="Bundle.entry",
        )
    if counts.get("MedicationAdministration"):
        return Issue(
            "error",
            "not-supported",
            "De Bundle bevat medicatietoedieningen (een toedienregistratie), geen toedienlijst. "
            "Zie ADR 0008.",
            "The Bundle holds medication administrations (an administration record), not an "
            "administration list. See ADR 0008.",
            expression="Bundle.entry",
        )
    return Issue(
        "error",
        "required",
        "De Bundle bevat geen toedieningsafspraken (MedicationDispense, categorie 422037009)",
        "The Bundle holds no administration agreements (MedicationDispense, category 422037009)",
        expression="Bundle.entry",
    )


def _check_modifiers(raw: Any, path: str, allowed: frozenset[str]) -> None:
    """Reject any modifierExtension we do not understand, wherever it sits."""
    if "modifierExtension" not in repr(raw):
        # repr quotes every key: without the word nowhere in it, no element has one (and
        # repr runs in C, many times faster than the walk below)
        return
    # iterative walk: this runs for every resource of large bundles
    stack: list[tuple[Any, str, frozenset[str]]] = [(raw, path, allowed)]
    none: frozenset[str] = frozenset()
    while stack:
        node, where, ok = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    continue
                if key == "modifierExtension" and isinstance(value, list):
                    for n, ext in enumerate(value):
                        url = ext.get("url") if isinstance(ext, dict) else None
                        if url not in ok:
                            raise _Reject(
                                f"Onbekende modifierExtension '{url}': die verandert de "
                                "betekenis, dus deze regel kan niet veilig worden ingelezen",
                                f"Unknown modifierExtension '{url}': it changes the meaning, "
                                "so this item cannot be imported safely",
                                f"{where}.modifierExtension[{n}]",
                            )
                elif key != "contained" and isinstance(value, dict | list):
                    stack.append((value, f"{where}.{key}", none))
        elif isinstance(node, list):
            for n, v in enumerate(node):
                if isinstance(v, dict | list):
                    stack.append((v, f"{where}[{n}]", ok))


def _check_once(e: _Entry) -> None:
    if not e.checked:
        _check_modifiers(e.raw, f"Bundle.entry[{e.index}].resource", frozenset())
        e.checked = True


def _resolve(ref: Any, by_ref: dict[str, _Entry], expr: str, want: str) -> _Entry:
    target = ref.reference if ref is not None else None
    entry = by_ref.get(target) if target else None
    if entry is None or entry.rtype != want:
        raise _Reject(
            f"Verwijzing naar {want} '{target}' niet gevonden in de Bundle",
            f"Reference to {want} '{target}' not found in the Bundle",
            expr,
            "required",
        )
    return entry


def _parse_ta(e: _Entry, by_ref: dict[str, _Entry]) -> _Ta:
    md = e.model
    res = f"Bundle.entry[{e.index}].resource"
    _check_modifiers(e.raw, res, KNOWN_TA_MODIFIERS)
    own_id = next((i.value for i in md.identifier or [] if i.value), None)
    warnings: list[Issue] = []
    if own_id is None:
        own_id = e.full_url or str(md.id or f"entry-{e.index}")
        warnings.append(
            Issue(
                "warning",
                "required",
                "Toedieningsafspraak zonder identificatie: wijzigingen kunnen niet worden "
                "gevolgd tussen lijstversies",
                "Administration agreement without identifier: changes cannot be tracked "
                "between list versions",
                entry=e.index,
                full_url=e.full_url,
                expression=f"{res}.identifier",
            )
        )
    if len(own_id) > MAX_SOURCE_ID:
        raise _Reject(
            f"Identificatie is langer dan {MAX_SOURCE_ID} tekens",
            f"Identifier is longer than {MAX_SOURCE_ID} characters",
            f"{res}.identifier",
            "value",
        )
    patient = _resolve(md.subject, by_ref, f"{res}.subject", "Patient")
    _check_once(patient)

    stop = None
    stop_ext = _ext(md, EXT_STOP, "modifierExtension")
    if stop_ext is not None:
        code = _coding(stop_ext.valueCodeableConcept)
        if code is None or code.code not in STOP_TYPES:
            raise _Reject(
                f"Onbekend stoptype '{getattr(code, 'code', None)}'",
                f"Unknown stop type '{getattr(code, 'code', None)}'",
                f"{res}.modifierExtension",
            )
        stop = STOP_TYPES[code.code]

    relation = None
    rel_ext = _ext(md, EXT_RELATION_TA)
    if rel_ext is not None and rel_ext.valueReference is not None:
        rel_ident = rel_ext.valueReference.identifier
        relation = rel_ident.value if rel_ident is not None else None
    base_id = relation if (stop is not None and relation) else own_id

    treatment_ext = _ext(md, EXT_TREATMENT)
    treatment = _ident_key(treatment_ext.valueIdentifier) if treatment_ext else None
    reg_ext = _ext(md, EXT_REGISTERED)
    registered = _as_dt(reg_ext.valueDateTime) if reg_ext else None
    reason_ext = _ext(md, EXT_REASON)
    reason = _cc_text(reason_ext.valueCodeableConcept) if reason_ext else None

    # medication
    if md.medicationReference is not None:
        ref = md.medicationReference.reference or ""
        med = None
        if ref.startswith("#"):
            med = next((c for c in md.contained or [] if f"#{c.id}" == ref), None)
            if med is None or med.get_resource_type() != "Medication":
                raise _Reject(
                    "Contained Medication niet gevonden",
                    "Contained Medication not found",
                    f"{res}.medicationReference",
                    "required",
                )
            for n, raw in enumerate(e.raw.get("contained") or []):
                if isinstance(raw, dict) and f"#{raw.get('id')}" == ref:
                    _check_modifiers(raw, f"{res}.contained[{n}]", frozenset())
        else:
            med_entry = _resolve(
                md.medicationReference, by_ref, f"{res}.medicationReference", "Medication"
            )
            _check_once(med_entry)
            med = med_entry.model
        name, codes, strength, form = _medication(med.code, med, md.medicationReference.display)
    elif md.medicationCodeableConcept is not None:
        name, codes, strength, form = _medication(md.medicationCodeableConcept, None, None)
    else:
        raise _Reject(
            "Geen geneesmiddel opgegeven", "No medication given", f"{res}.medication[x]", "required"
        )
    if not name:
        raise _Reject(
            "Geneesmiddel zonder naam",
            "Medication without a name",
            f"{res}.medication[x]",
            "required",
        )

    # period of use
    period_ext = _ext(md, EXT_PERIOD)
    p_start: datetime | None = None
    p_end: datetime | None = None
    condition: str | None = None
    if period_ext is not None and period_ext.valuePeriod is not None:
        vp = period_ext.valuePeriod
        p_start = _as_dt(vp.start)
        p_end = _as_dt(vp.end, end=True)
        dur = _ext(vp, EXT_DURATION)
        if p_end is None and dur is not None and dur.valueDuration is not None and p_start:
            p_end = _add_duration(
                p_start, dur.valueDuration, f"{res}.extension('ext-TimeInterval.Period').duration"
            )
        cond = _ext(vp, EXT_CONDITION)
        condition = cond.valueString if cond is not None else None
    if p_start is None:
        raise _Reject(
            "Toedieningsafspraak zonder ingangsdatum (ext-TimeInterval.Period.start)",
            "Administration agreement without start (ext-TimeInterval.Period.start)",
            f"{res}.extension('ext-TimeInterval.Period')",
            "required",
        )
    if p_end is not None and p_end < p_start:
        raise _Reject(
            "Einddatum ligt voor de ingangsdatum",
            "End lies before start",
            f"{res}.extension('ext-TimeInterval.Period')",
            "value",
        )

    cycle_days: int | None = None
    cyc = _ext(md, EXT_CYCLE, "modifierExtension")
    if cyc is not None:
        if cyc.valueDuration is None:
            raise _Reject(
                "Cyclisch schema zonder duur",
                "Cyclical schedule without duration",
                f"{res}.modifierExtension",
                "required",
            )
        cycle_days = _int_days(
            _quantity_days(cyc.valueDuration, f"{res}.modifierExtension"),
            "Cycluslengte",
            "Cycle length",
            f"{res}.modifierExtension",
        )

    in_gds = False
    dist = _ext(md, EXT_DISTRIBUTION)
    if dist is not None:
        c = _coding(dist.valueCodeableConcept)
        in_gds = c is not None and (c.code == "1" or (c.display or "").upper() == "GDS")

    rendered_ext = _ext(md, EXT_RENDERED)
    texts: list[str] = []
    if rendered_ext is not None and rendered_ext.valueString:
        texts.append(str(rendered_ext.valueString))
    if condition:
        texts.append(f"Criterium: {condition}")
    for note in md.note or []:
        if note.text:
            texts.append(f"Toelichting: {note.text}")

    common: dict[str, Any] = {
        "medication_name": name[:500],
        "codes": codes,
        "strength": strength,
        "form": form,
        "in_gds": in_gds,
        "stopped": stop is not None,
        "stop_type": stop[0] if stop else None,
        "stop_reason": _stop_reason(stop, reason),
        "change_reason": reason,
    }
    items = _dosage_items(md, res, base_id, common, texts, p_start, p_end, cycle_days, warnings, e)
    return _Ta(
        e,
        own_id,
        base_id,
        patient,
        registered,
        treatment,
        relation,
        stop,
        reason,
        p_start,
        items,
        warnings,
    )


def _stop_reason(stop: tuple[str, str | None] | None, reason: str | None) -> str | None:
    if stop is None:
        return None
    label = stop[1]
    if label and reason:
        return f"{label}: {reason}"
    return label or reason


def _medication(
    cc: Any, med: Any, display: str | None
) -> tuple[str | None, ProductCodes, str | None, str | None]:
    codes: dict[str, str] = {}
    chosen: str | None = None
    for c in (cc.coding or []) if cc is not None else []:
        key = {OID_ZI: "zi", OID_HPK: "hpk", OID_PRK: "prk", OID_GPK: "gpk"}.get(c.system or "")
        if c.system in ATC_SYSTEMS:
            key = "atc"
        if key and c.code:
            codes.setdefault(key, str(c.code))
        if c.userSelected and c.display:
            chosen = str(c.display)
    name = (cc.text if cc is not None and cc.text else None) or chosen
    if name is None and med is not None:
        desc = _ext(med, EXT_PRODUCT_DESC)
        if desc is not None and desc.valueString:
            name = str(desc.valueString)
    if name is None and cc is not None:
        name = next((str(c.display) for c in cc.coding or [] if c.display), None)
    name = name or display
    form = _cc_text(med.form) if med is not None and med.form is not None else None
    return (str(name) if name else None), ProductCodes(**codes), _strength(med), form


def _strength(med: Any) -> str | None:
    """ "500 mg" or "10 mg/ml" for a single-ingredient product; compositions have none."""
    ingredients = (med.ingredient or []) if med is not None else []
    # only an ingredient marked active: a magistral base ("80 g cetomacrogol per 100 g")
    # is not the strength a nurse checks against
    if len(ingredients) != 1 or ingredients[0].strength is None or not ingredients[0].isActive:
        return None
    num, den = ingredients[0].strength.numerator, ingredients[0].strength.denominator
    if num is None or num.value is None:
        return None
    text = f"{_fmt(num.value)} {num.unit or num.code or ''}".strip()
    if den is not None and den.value is not None:
        den_unit = str(den.unit or den.code or "")
        if den_unit.lower() not in ("stuk", "stuks", "1") or den.value != 1:
            text += "/" + (f"{_fmt(den.value)} " if den.value != 1 else "") + den_unit
    return text


def _fmt(value: Any) -> str:
    text = format(_dec(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dosage_items(
    md: Any,
    res: str,
    base_id: str,
    common: dict[str, Any],
    texts: list[str],
    p_start: datetime,
    p_end: datetime | None,
    cycle_days: int | None,
    warnings: list[Issue],
    e: _Entry,
) -> list[ItemDraft]:
    dosages = list(enumerate(md.dosageInstruction or []))
    if not dosages:
        raise _Reject(
            "Toedieningsafspraak zonder gebruiksinstructie (dosageInstruction)",
            "Administration agreement without dosageInstruction",
            f"{res}.dosageInstruction",
            "required",
        )
    phases: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for n, d in dosages:
        phases[int(d.sequence or 1)].append((n, d))
    ordered = sorted(phases.items())
    if cycle_days is not None and len(ordered) > 1:
        raise _Reject(
            "Cyclisch schema met meerdere doseerfasen wordt niet ondersteund",
            "A cyclical schedule with several dosing phases is not supported",
            f"{res}.dosageInstruction",
        )
    multi = len(dosages) > 1
    items: list[ItemDraft] = []
    start = p_start
    for seq_index, (seq, group) in enumerate(ordered):
        phase_len: Decimal | None = None
        for k, (n, d) in enumerate(group):
            dpath = f"{res}.dosageInstruction[{n}]"
            sched, extra, dose_fields, bounds = _dosage(
                d, dpath, start, p_end, cycle_days, warnings, e
            )
            if bounds is not None:
                phase_len = bounds if phase_len is None else max(phase_len, bounds)
            instr = [*texts, *[x for x in extra if not any(x.lower() in t.lower() for t in texts)]]
            sid = (
                base_id
                if not multi
                else f"{base_id}#{seq}" + (f".{k + 1}" if len(group) > 1 else "")
            )
            end = sched.end
            first_day = (sched.start or start).astimezone(AMS).date()
            items.append(
                ItemDraft(
                    source_id=sid,
                    schedule=sched,
                    instructions="; ".join(instr) or None,
                    period_start=first_day,
                    period_end=max(_last_day(end), first_day) if end is not None else None,
                    **dose_fields,
                    **common,
                )
            )
        if seq_index < len(ordered) - 1:
            if phase_len is None:
                raise _Reject(
                    "Doseerfase zonder duur gevolgd door een volgende fase: de startdatum van "
                    "de volgende fase is onbekend",
                    "A dosing phase without duration is followed by another phase: the start of "
                    "the next phase is unknown",
                    f"{res}.dosageInstruction",
                    "required",
                )
            start = _plus_days(start, phase_len)
    return items


def _dosage(
    d: Any,
    dpath: str,
    start: datetime,
    p_end: datetime | None,
    cycle_days: int | None,
    warnings: list[Issue],
    e: _Entry,
) -> tuple[Schedule, list[str], dict[str, Any], Decimal | None]:
    def warn(nl: str, en: str, expr: str) -> None:
        warnings.append(
            Issue(
                "warning",
                "not-supported",
                nl,
                en,
                entry=e.index,
                full_url=e.full_url,
                expression=expr,
            )
        )

    extra: list[str] = []
    times: list[str] = []
    weekdays: list[int] = []
    frequency: int | None = None
    frequency_max: int | None = None
    day_parts: set[str] = set()
    period_days: Decimal | None = None
    interval_days: int | None = None
    cycle_on: int | None = None
    duration_days: Decimal | None = None
    end = p_end
    exact = False
    bounds_len: Decimal | None = None
    timing = d.timing
    if timing is not None:
        if timing.event or timing.code is not None:
            raise _Reject(
                "Timing.event/code wordt niet ondersteund",
                "Timing.event/code is not supported",
                f"{dpath}.timing",
            )
        r = timing.repeat
        if r is not None:
            rpath = f"{dpath}.timing.repeat"
            for bad in ("count", "countMax", "offset", "periodMax", "boundsRange"):
                if getattr(r, bad, None) is not None:
                    raise _Reject(
                        f"timing.repeat.{bad} wordt niet ondersteund",
                        f"timing.repeat.{bad} is not supported",
                        f"{rpath}.{bad}",
                    )
            exact_ext = _ext(r, EXT_TIMING_EXACT)
            exact = bool(exact_ext is not None and exact_ext.valueBoolean)
            for t in r.timeOfDay or []:
                if not isinstance(t, time):
                    raise _Reject("Ongeldig tijdstip", "Invalid time of day", f"{rpath}.timeOfDay")
                times.append(f"{t.hour:02d}:{t.minute:02d}")
            for wd in r.dayOfWeek or []:
                weekdays.append(WEEKDAYS[str(wd)])
            if r.frequency is not None:
                if r.period is None:
                    raise _Reject(
                        "frequency zonder period",
                        "frequency without period",
                        f"{rpath}.period",
                        "required",
                    )
                frequency, period_days = _frequency(
                    r.frequency, r.period, r.periodUnit, f"{rpath}.periodUnit"
                )
                if (
                    frequency == 1
                    and period_days == period_days.to_integral_value()
                    and (period_days > 1)
                ):
                    interval_days = int(period_days)
                if r.frequencyMax is not None:
                    most, most_per = _frequency(
                        r.frequencyMax, r.period, r.periodUnit, f"{rpath}.frequencyMax"
                    )
                    if most_per == period_days and most >= frequency:
                        frequency_max = most
                    warn(
                        f"Variabele frequentie ({r.frequency} à {r.frequencyMax}): gepland op "
                        f"{r.frequency}; zie de instructie",
                        f"Variable frequency ({r.frequency}-{r.frequencyMax}): scheduled at "
                        f"{r.frequency}; see the instructions",
                        f"{rpath}.frequencyMax",
                    )
            if r.when:
                parts = []
                for w in r.when:
                    label = DAY_PARTS.get(str(w))
                    if label is None:
                        raise _Reject(
                            f"Tijdsaanduiding '{w}' wordt niet ondersteund",
                            f"Timing 'when' code '{w}' is not supported",
                            f"{rpath}.when",
                        )
                    parts.append(label)
                    day_parts.add(str(w))
                extra.append("dagdeel: " + ", ".join(parts))
                if frequency is None and not times:
                    frequency, period_days = len(parts), Decimal(1)
                warn(
                    "Dagdeel (" + ", ".join(parts) + ") heeft geen vast tijdstip: ingepland als "
                    f"{len(parts)} keer per dag, zie de instructie",
                    "Part of day has no fixed time: scheduled as a daily frequency, see the "
                    "instructions",
                    f"{rpath}.when",
                )
            if r.boundsDuration is not None:
                bdays = _quantity_days(r.boundsDuration, f"{rpath}.boundsDuration")
                if cycle_days is not None:
                    # in a cyclical schedule boundsDuration is the "on" part of each cycle
                    cycle_on = _int_days(
                        bdays,
                        "Gebruiksduur binnen de cyclus",
                        "On-days within the cycle",
                        f"{rpath}.boundsDuration",
                    )
                    if cycle_on > cycle_days:
                        raise _Reject(
                            "Gebruiksduur is langer dan de cyclus",
                            "On-days exceed the cycle length",
                            f"{rpath}.boundsDuration",
                            "value",
                        )
                else:
                    bounds_len = bdays
                    duration_days = bdays
                    phase_end = _plus_days(start, bdays)
                    end = phase_end if end is None else min(end, phase_end)
            if r.boundsPeriod is not None:
                bp_start = _as_dt(r.boundsPeriod.start)
                bp_end = _as_dt(r.boundsPeriod.end, end=True)
                if bp_start is not None:
                    start = max(start, bp_start)
                if bp_end is not None:
                    end = bp_end if end is None else min(end, bp_end)
            if r.duration is not None:
                extra.append(f"toedieningsduur {r.duration} {r.durationUnit or ''}".strip())
    if cycle_days is not None and cycle_on is None:
        raise _Reject(
            "Cyclisch schema zonder gebruiksduur (boundsDuration)",
            "Cyclical schedule without on-days (boundsDuration)",
            f"{dpath}.timing.repeat.boundsDuration",
            "required",
        )
    if end is not None and end < start:
        end = start

    prn = False
    prn_indication: str | None = None
    if d.asNeededBoolean:
        prn = True
    elif d.asNeededCodeableConcept is not None:
        prn = True
        prn_indication = _cc_text(d.asNeededCodeableConcept)
    prn_max: Decimal | None = None
    mdp = d.maxDosePerPeriod
    if mdp is not None and mdp.numerator is not None and mdp.numerator.value is not None:
        den = mdp.denominator
        den_days = (
            _quantity_days(den, f"{dpath}.maxDosePerPeriod.denominator")
            if den is not None
            else Decimal(1)
        )
        if den_days == 1:
            prn_max = _dec(mdp.numerator.value)
        else:
            warn(
                "Maximum per periode is niet per 24 uur; zie de instructie",
                "Maximum per period is not per 24 h; see the instructions",
                f"{dpath}.maxDosePerPeriod",
            )
    for ai in d.additionalInstruction or []:
        text = _cc_text(ai)
        if text:
            extra.append(text)
    if d.text:
        extra.append(str(d.text))
    if d.patientInstruction:
        extra.append(str(d.patientInstruction))

    dose: Dose | None = None
    dar = d.doseAndRate or []
    if len(dar) > 1:
        raise _Reject(
            "Meer dan één doseAndRate wordt niet ondersteund",
            "More than one doseAndRate is not supported",
            f"{dpath}.doseAndRate",
        )
    for x in dar:
        if x.doseQuantity is not None:
            q = x.doseQuantity
            if q.value is None:
                raise _Reject(
                    "Dosis zonder waarde",
                    "Dose without value",
                    f"{dpath}.doseAndRate[0].doseQuantity",
                    "required",
                )
            unit, code = _unit(q)
            dose = Dose(value=_dec(q.value), unit=unit, unit_code=code)
        elif x.doseRange is not None:
            lo, hi = x.doseRange.low, x.doseRange.high
            if lo is None or hi is None or lo.value is None or hi.value is None:
                raise _Reject(
                    "Dosisbereik zonder onder- of bovengrens",
                    "Dose range without low or high",
                    f"{dpath}.doseAndRate[0].doseRange",
                    "required",
                )
            unit, code = _unit(lo)
            dose = Dose(low=_dec(lo.value), high=_dec(hi.value), unit=unit, unit_code=code)
        if x.rateQuantity is not None or x.rateRange is not None or x.rateRatio is not None:
            warn(
                "Toedieningssnelheid staat alleen in de instructie",
                "Administration rate is only in the instructions",
                f"{dpath}.doseAndRate[0]",
            )

    route: str | None = None
    route_code: str | None = None
    if d.route is not None:
        rc = _coding(d.route, OID_ROUTE)
        if rc is not None:
            route_code = str(rc.code) if rc.code else None
        route = (_cc_text(d.route) or "").lower() or None
    if d.site is not None and _cc_text(d.site):
        extra.append(f"plaats: {_cc_text(d.site)}")

    sched = Schedule(
        times_of_day=sorted(set(times)),
        weekdays=sorted(set(weekdays)),
        frequency=frequency,
        frequency_max=frequency_max,
        period_days=period_days,
        day_parts=[p for p in DAY_PART_ORDER if p in day_parts],
        interval_days=interval_days,
        cycle_length_days=cycle_days,
        cycle_on_days=cycle_on,
        start=start,
        end=end,
        duration_days=duration_days,
    )
    fields: dict[str, Any] = {
        "dose": dose,
        "route": route,
        "route_code": route_code,
        "prn": prn,
        "prn_indication": prn_indication,
        "prn_max_per_24h": prn_max,
        "exact_time": exact,
    }
    return sched, extra, fields, bounds_len


def _build_clients(
    parsed: list[_Ta], bundle_ts: datetime | None
) -> tuple[list[ClientListDraft], list[Issue]]:
    issues: list[Issue] = []
    by_patient: dict[str, list[_Ta]] = defaultdict(list)
    names: dict[str, str | None] = {}
    for ta in parsed:
        p = ta.patient
        bsn = next(
            (str(i.value) for i in p.model.identifier or [] if i.system in BSN_SYSTEMS and i.value),
            None,
        )
        if bsn is None or not is_valid_bsn(bsn):
            issues.append(
                Issue(
                    "error",
                    "value" if bsn else "required",
                    "Patiënt zonder geldig BSN (elfproef)" if bsn else "Patiënt zonder BSN",
                    "Patient without a valid BSN (eleven test)" if bsn else "Patient without BSN",
                    entry=p.index,
                    full_url=p.full_url,
                    expression=f"Bundle.entry[{p.index}].resource.identifier",
                )
            )
            continue
        by_patient[bsn].append(ta)
        names.setdefault(bsn, _patient_name(p.model))
    if issues:
        # one report per patient entry is enough
        unique: dict[int | None, Issue] = {}
        for i in issues:
            unique.setdefault(i.entry, i)
        return [], list(unique.values())

    drafts: list[ClientListDraft] = []
    for bsn, tas in by_patient.items():
        chosen: dict[str, _Ta] = {}
        for ta in tas:
            cur = chosen.get(ta.base_id)
            if cur is None:
                chosen[ta.base_id] = ta
                continue
            if cur.stop is None and ta.stop is None:
                issues.append(
                    Issue(
                        "error",
                        "business-rule",
                        f"Toedieningsafspraak '{ta.own_id}' staat twee keer in de Bundle",
                        f"Administration agreement '{ta.own_id}' occurs twice in the Bundle",
                        entry=ta.entry.index,
                        full_url=ta.entry.full_url,
                        expression=f"Bundle.entry[{ta.entry.index}].resource.identifier",
                    )
                )
                continue
            # the stop-TA is the latest word on the TA it ends
            if _later(ta, cur):
                chosen[ta.base_id] = ta
        items: list[ItemDraft] = []
        for ta in sorted(chosen.values(), key=lambda t: t.entry.index):
            for item in ta.items:
                if item.stopped and ta.reason is None:
                    reason = _successor_reason(ta, tas)
                    if reason:
                        item = item.model_copy(
                            update={"stop_reason": _stop_reason(ta.stop, reason)}
                        )
                items.append(item)
        registered = [t.registered for t in tas if t.registered is not None]
        try:
            drafts.append(
                ClientListDraft(
                    bsn=bsn,
                    client_name=names.get(bsn),
                    issued_at=bundle_ts or (max(registered) if registered else None),
                    items=items,
                )
            )
        except ValidationError as exc:
            issues.append(Issue("error", "invalid", "Ongeldige lijst", f"Invalid list: {exc}"))
    return drafts, issues


def _later(a: _Ta, b: _Ta) -> bool:
    """Is `a` the later word on a TA than `b` (stops beat starts, then registration time)?"""
    if (a.stop is None) != (b.stop is None):
        return a.stop is not None
    ka = (a.registered or datetime.min.replace(tzinfo=AMS), a.entry.index)
    kb = (b.registered or datetime.min.replace(tzinfo=AMS), b.entry.index)
    return ka > kb


def _successor_reason(stop_ta: _Ta, tas: list[_Ta]) -> str | None:
    """Reason for a change sits on the new TA (MP9); show it on the stopped one as well."""
    for t in sorted(tas, key=lambda x: x.entry.index):
        if t.stop is not None or t.reason is None or t.base_id == stop_ta.base_id:
            continue
        if t.relation == stop_ta.base_id:
            return t.reason
        if (
            stop_ta.treatment is not None
            and t.treatment == stop_ta.treatment
            and t.period_start is not None
            and stop_ta.period_start is not None
            and t.period_start >= stop_ta.period_start
        ):
            return t.reason
    return None


def _patient_name(p: Any) -> str | None:
    for n in p.name or []:
        if n.text:
            return str(n.text)
        parts = [*(n.given or []), n.family or ""]
        text = " ".join(str(x) for x in parts if x)
        if text:
            return text
    return None
