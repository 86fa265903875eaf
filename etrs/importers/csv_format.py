"""Dutch spreadsheet CSV ⇄ administration-list drafts (columns: docs/pharmacy-csv.md).

One row per list item, the client's BSN on every row. `;` separator, decimal comma, dates
dd-mm-jjjj, UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from etrs.bsn import is_valid_bsn
from etrs.drafts import (
    DAY_PART_ORDER,
    ClientListDraft,
    DayPart,
    Dose,
    ItemDraft,
    ProductCodes,
    Schedule,
)
from etrs.importers.limits import Limits
from etrs.importers.report import ImportResult, Issue, IssueCode, rejected

AMS = ZoneInfo("Europe/Amsterdam")
MAX_SOURCE_ID = 200  # etrs list_items.source_id column

# (column, required, Dutch description) — the order is the order the writer uses
COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("bsn", True, "BSN van de cliënt (9 cijfers, elfproef)"),
    ("client_naam", False, "Naam van de cliënt (ter controle)"),
    ("regel_id", False, "Vaste sleutel van de regel in het apotheeksysteem"),
    ("geneesmiddel", True, "Naam van het geneesmiddel zoals op de lijst"),
    ("zi", False, "ZI-nummer"),
    ("hpk", False, "HPK-code"),
    ("prk", False, "PRK-code"),
    ("gpk", False, "GPK-code"),
    ("atc", False, "ATC-code"),
    ("sterkte", False, "Sterkte, bijv. 500 mg"),
    ("vorm", False, "Farmaceutische vorm, bijv. tablet"),
    ("dosis", False, "Dosis per moment: 2 of 0,5 of een bereik 1-2"),
    ("eenheid", False, "Eenheid van de dosis (G-Standaard), bijv. stuk, mg, ml, IE"),
    ("eenheid_code", False, "G-Standaard code van de eenheid (thesaurus 2820)"),
    ("toedieningsweg", False, "Toedieningsweg, bijv. oraal"),
    ("toedieningsweg_code", False, "G-Standaard code van de toedieningsweg (thesaurus 7)"),
    ("tijden", False, "Vaste tijden, bijv. 08:00,12:00,18:00"),
    ("weekdagen", False, "Alleen op deze dagen: ma,di,wo,do,vr,za,zo (leeg = elke dag)"),
    ("dagdelen", False, "Dagdelen zonder vast tijdstip: ochtend,middag,avond,nacht"),
    ("frequentie", False, "Aantal keer per periode zonder vaste tijden, bijv. 3"),
    ("frequentie_max", False, "Hoogstens zo vaak per periode, bij '1 à 2 keer per dag': 2"),
    ("per_dagen", False, "Lengte van die periode in dagen (standaard 1)"),
    ("interval_dagen", False, "Elke zoveel dagen vanaf de startdatum, bijv. 7"),
    ("cyclus_dagen", False, "Lengte van een cyclus in dagen, bijv. 21"),
    ("cyclus_aan_dagen", False, "Gebruiksdagen aan het begin van elke cyclus, bijv. 14"),
    ("startdatum", True, "Eerste dag (dd-mm-jjjj)"),
    ("einddatum", False, "Laatste dag, inclusief (dd-mm-jjjj); leeg = tot nader bericht"),
    ("zo_nodig", False, "ja/nee: zo nodig (PRN)"),
    ("zo_nodig_reden", False, "Indicatie bij zo nodig, bijv. bij pijn"),
    ("zo_nodig_max_24u", False, "Maximaal aantal eenheden per 24 uur"),
    ("gds", False, "ja/nee: in de baxterrol (GDS)"),
    ("dispenser", False, "ja/nee: door de medicijndispenser gegeven"),
    ("risicovol", False, "ja/nee/leeg: risicovol volgens de apotheek"),
    ("exact_tijdstip", False, "ja/nee: exact op tijd geven"),
    ("gestopt", False, "leeg, 'gestopt' of 'onderbroken'"),
    ("stop_reden", False, "Reden van stoppen of onderbreken"),
    ("reden_wijziging", False, "Reden van de wijziging volgens de apotheek"),
    ("instructie", False, "Aanvullende instructie voor de zorgverlener"),
)
COLUMN_NAMES = tuple(c[0] for c in COLUMNS)
REQUIRED = frozenset(c[0] for c in COLUMNS if c[1])

WEEKDAY_NAMES = {
    "ma": 1, "maandag": 1, "di": 2, "dinsdag": 2, "wo": 3, "woensdag": 3,
    "do": 4, "donderdag": 4, "vr": 5, "vrijdag": 5, "za": 6, "zaterdag": 6,
    "zo": 7, "zondag": 7,
}  # fmt: skip
WEEKDAY_SHORT = {1: "ma", 2: "di", 3: "wo", 4: "do", 5: "vr", 6: "za", 7: "zo"}
DAY_PART_NAMES: dict[str, DayPart] = {
    "ochtend": "MORN", "middag": "AFT", "avond": "EVE", "nacht": "NIGHT",
}  # fmt: skip
DAY_PART_SHORT = {v: k for k, v in DAY_PART_NAMES.items()}
TRUE = frozenset({"ja", "j", "x", "1", "waar", "yes", "y", "true"})
FALSE = frozenset({"nee", "n", "0", "onwaar", "no", "false"})
_DEC_RE = re.compile(r"^-?\d+(,\d+)?$")
_DATE_RE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_TIME_RE = re.compile(r"^(\d{1,2})[:.](\d{2})$")


class _CellError(Exception):
    def __init__(self, nl: str, en: str, code: IssueCode = "value") -> None:
        super().__init__(en)
        self.nl, self.en, self.code = nl, en, code


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes → text and the encoding used (BOM, then strict UTF-8, then Windows-1252)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Excel "CSV (gescheidingstekens)" on Dutch Windows writes Windows-1252
        return data.decode("cp1252"), "cp1252"


def _norm_header(h: str) -> str:
    return re.sub(r"[\s\-]+", "_", h.strip().lower())


def parse_csv(data: bytes, *, limits: Limits | None = None) -> ImportResult:
    """Parse a pharmacy CSV into drafts, or return row/column errors (nothing partial)."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        return rejected(
            "csv",
            [
                Issue(
                    "error",
                    "too-costly",
                    f"Bestand is te groot ({len(data)} bytes, maximaal {limits.max_bytes})",
                    f"File too large ({len(data)} bytes, limit {limits.max_bytes})",
                )
            ],
        )
    try:
        text, _encoding = decode_text(data)
    except UnicodeDecodeError:
        return rejected(
            "csv",
            [
                Issue(
                    "error",
                    "structure",
                    "Onbekende tekenset: sla het bestand op als UTF-8 of Windows-1252",
                    "Unknown character encoding: save the file as UTF-8 or Windows-1252",
                )
            ],
        )
    if "\x00" in text:
        return rejected(
            "csv",
            [
                Issue(
                    "error",
                    "structure",
                    "Het bestand bevat binaire gegevens, geen CSV",
                    "The file holds binary data, not CSV",
                )
            ],
        )
    offset = 0
    if text[:4].lower() == "sep=":
        # Excel's "sep=;" hint line
        text, offset = text.partition("\n")[2], 1
    try:
        records = list(
            csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', strict=True)
        )
    except csv.Error as exc:
        return rejected(
            "csv",
            [Issue("error", "structure", f"Ongeldige CSV: {exc}", f"Invalid CSV: {exc}")],
        )
    if len(records) - 1 > limits.max_rows:
        return rejected(
            "csv",
            [
                Issue(
                    "error",
                    "too-costly",
                    f"Te veel regels (maximaal {limits.max_rows})",
                    f"Too many rows (limit {limits.max_rows})",
                )
            ],
        )
    if not records or not any(c.strip() for c in records[0]):
        return rejected(
            "csv",
            [
                Issue(
                    "error", "required", "Kopregel ontbreekt", "Header row missing", row=1 + offset
                )
            ],
        )
    header = [_norm_header(h) for h in records[0]]
    issues: list[Issue] = []
    if len(header) == 1 and ("," in records[0][0] or "\t" in records[0][0]):
        return rejected(
            "csv",
            [
                Issue(
                    "error",
                    "structure",
                    "Scheidingsteken moet een puntkomma (;) zijn",
                    "The separator must be a semicolon (;)",
                    row=1 + offset,
                )
            ],
        )
    for missing in sorted(REQUIRED - set(header)):
        issues.append(
            Issue(
                "error",
                "required",
                f"Verplichte kolom '{missing}' ontbreekt",
                f"Required column '{missing}' is missing",
                row=1 + offset,
                column=missing,
            )
        )
    seen: set[str] = set()
    for h in header:
        if h in seen:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"Kolom '{h}' staat er twee keer in",
                    f"Column '{h}' occurs twice",
                    row=1 + offset,
                    column=h,
                )
            )
        seen.add(h)
    unknown = [h for h in header if h and h not in COLUMN_NAMES]
    for h in unknown:
        issues.append(
            Issue(
                "warning",
                "informational",
                f"Onbekende kolom '{h}' genegeerd",
                f"Unknown column '{h}' ignored",
                row=1 + offset,
                column=h,
            )
        )
    if any(i.severity == "error" for i in issues):
        return rejected("csv", issues)

    clients: dict[str, dict[str, Any]] = {}
    for n, rec in enumerate(records[1:], start=2 + offset):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) > len(header) and any(c.strip() for c in rec[len(header) :]):
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"Rij heeft {len(rec)} velden, de kopregel {len(header)}",
                    f"Row has {len(rec)} fields, the header {len(header)}",
                    row=n,
                )
            )
            continue
        row = {h: _cell_in(rec[i]) if i < len(rec) else "" for i, h in enumerate(header)}
        row_issues: list[Issue] = []
        item, bsn = _row_to_item(row, n, row_issues)
        issues.extend(row_issues)
        if item is None or bsn is None:
            continue
        client = clients.setdefault(bsn, {"name": None, "items": [], "ids": {}})
        if row.get("client_naam") and client["name"] is None:
            client["name"] = row["client_naam"]
        if item.source_id in client["ids"]:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    f"regel_id '{item.source_id}' komt voor deze cliënt al voor in rij "
                    f"{client['ids'][item.source_id]}",
                    f"regel_id '{item.source_id}' already used for this client in row "
                    f"{client['ids'][item.source_id]}",
                    row=n,
                    column="regel_id",
                )
            )
            continue
        client["ids"][item.source_id] = n
        client["items"].append(item)
    if any(i.severity == "error" for i in issues):
        return rejected("csv", issues, {"rows": len(records) - 1})
    if not clients:
        return rejected(
            "csv",
            [
                *issues,
                Issue(
                    "error",
                    "required",
                    "Het bestand bevat geen regels",
                    "The file has no data rows",
                ),
            ],
        )
    drafts = [
        ClientListDraft(bsn=bsn, client_name=c["name"], items=c["items"])
        for bsn, c in clients.items()
    ]
    stats = {
        "rows": len(records) - 1,
        "clients": len(drafts),
        "items": sum(len(d.items) for d in drafts),
    }
    return ImportResult(format="csv", drafts=tuple(drafts), issues=tuple(issues), stats=stats)


def _row_to_item(
    row: dict[str, str], n: int, issues: list[Issue]
) -> tuple[ItemDraft | None, str | None]:
    values: dict[str, Any] = {}

    def cell(col: str, conv: Any) -> Any:
        raw = row.get(col, "")
        if raw == "":
            return None
        try:
            return conv(raw)
        except _CellError as exc:
            issues.append(Issue("error", exc.code, exc.nl, exc.en, row=n, column=col))
            return None

    bsn = cell("bsn", _bsn)
    if row.get("bsn", "") == "":
        issues.append(
            Issue("error", "required", "BSN ontbreekt", "BSN missing", row=n, column="bsn")
        )
    name = row.get("geneesmiddel", "")
    if not name:
        issues.append(
            Issue(
                "error",
                "required",
                "Naam van het geneesmiddel ontbreekt",
                "Medication name missing",
                row=n,
                column="geneesmiddel",
            )
        )
    start = cell("startdatum", _date)
    if row.get("startdatum", "") == "":
        issues.append(
            Issue(
                "error",
                "required",
                "Startdatum ontbreekt",
                "Start date missing",
                row=n,
                column="startdatum",
            )
        )
    end = cell("einddatum", _date)
    if start is not None and end is not None and end < start:
        issues.append(
            Issue(
                "error",
                "value",
                "Einddatum ligt voor de startdatum",
                "End date lies before the start date",
                row=n,
                column="einddatum",
            )
        )
    dose_raw = cell("dosis", _dose)
    unit = row.get("eenheid", "")
    if dose_raw is not None and not unit:
        issues.append(
            Issue(
                "error",
                "required",
                "Eenheid ontbreekt bij de dosis",
                "Unit missing for the dose",
                row=n,
                column="eenheid",
            )
        )
    times = cell("tijden", _times) or []
    weekdays = cell("weekdagen", _weekdays) or []
    day_parts = cell("dagdelen", _day_parts) or []
    frequency = cell("frequentie", _pos_int)
    frequency_max = cell("frequentie_max", _pos_int)
    period_days = cell("per_dagen", _pos_dec)
    if frequency_max is not None and (frequency is None or frequency_max < frequency):
        issues.append(
            Issue(
                "error",
                "value",
                "frequentie_max hoort bij een frequentie en is niet kleiner dan die",
                "frequentie_max needs a frequentie and is not smaller than it",
                row=n,
                column="frequentie_max",
            )
        )
    if day_parts and frequency is None and not times:
        # like MP9: a part of the day without a clock time is planned once a day per part
        frequency = len(day_parts)
    interval = cell("interval_dagen", _pos_int)
    cycle = cell("cyclus_dagen", _pos_int)
    cycle_on = cell("cyclus_aan_dagen", _pos_int)
    if (cycle is None) != (cycle_on is None):
        issues.append(
            Issue(
                "error",
                "required",
                "cyclus_dagen en cyclus_aan_dagen horen samen",
                "cyclus_dagen and cyclus_aan_dagen go together",
                row=n,
                column="cyclus_dagen" if cycle is None else "cyclus_aan_dagen",
            )
        )
    elif cycle is not None and cycle_on is not None and cycle_on > cycle:
        issues.append(
            Issue(
                "error",
                "value",
                "Meer gebruiksdagen dan de cyclus lang is",
                "More on-days than the cycle is long",
                row=n,
                column="cyclus_aan_dagen",
            )
        )
    if period_days is not None and frequency is None:
        issues.append(
            Issue(
                "error",
                "required",
                "per_dagen zonder frequentie",
                "per_dagen without frequentie",
                row=n,
                column="frequentie",
            )
        )
    stop = cell("gestopt", _stop)
    prn = cell("zo_nodig", _bool) or False
    prn_max = cell("zo_nodig_max_24u", _pos_dec)
    flags = {c: cell(c, _bool) for c in ("gds", "dispenser", "risicovol", "exact_tijdstip")}
    if any(i.severity == "error" and i.row == n for i in issues):
        return None, None
    if start is None or bsn is None:  # reported above
        return None, None
    dose = None
    if dose_raw is not None:
        lo, hi = dose_raw
        dose = Dose(
            value=lo if hi is None else None,
            low=lo if hi is not None else None,
            high=hi,
            unit=unit,
            unit_code=row.get("eenheid_code") or None,
        )
    codes = ProductCodes(**{k: row.get(k) or None for k in ("zi", "hpk", "prk", "gpk", "atc")})
    source_id = row.get("regel_id") or _derived_id(codes, name, start)
    if len(source_id) > MAX_SOURCE_ID:
        issues.append(
            Issue(
                "error",
                "value",
                f"regel_id is langer dan {MAX_SOURCE_ID} tekens",
                f"regel_id is longer than {MAX_SOURCE_ID} characters",
                row=n,
                column="regel_id",
            )
        )
        return None, None
    values.update(
        source_id=source_id,
        medication_name=name,
        codes=codes,
        strength=row.get("sterkte") or None,
        form=row.get("vorm") or None,
        dose=dose,
        route=row.get("toedieningsweg") or None,
        route_code=row.get("toedieningsweg_code") or None,
        schedule=Schedule(
            times_of_day=times,
            weekdays=weekdays,
            frequency=frequency,
            frequency_max=frequency_max,
            day_parts=day_parts,
            period_days=(
                period_days
                if period_days is not None
                else (Decimal(1) if frequency is not None else None)
            ),
            interval_days=interval,
            cycle_length_days=cycle,
            cycle_on_days=cycle_on,
            start=datetime.combine(start, time(0), tzinfo=AMS),
            end=(
                datetime.combine(end + timedelta(days=1), time(0), tzinfo=AMS)
                if end is not None
                else None
            ),
        ),
        prn=prn,
        prn_indication=row.get("zo_nodig_reden") or None,
        prn_max_per_24h=prn_max,
        instructions=row.get("instructie") or None,
        in_gds=bool(flags["gds"]),
        dispenser_managed=bool(flags["dispenser"]),
        high_risk_flag=flags["risicovol"],
        exact_time=bool(flags["exact_tijdstip"]),
        stopped=stop is not None,
        stop_type=stop,
        stop_reason=row.get("stop_reden") or None,
        change_reason=row.get("reden_wijziging") or None,
        period_start=start,
        period_end=end,
    )
    try:
        return ItemDraft(**values), bsn
    except ValidationError as exc:
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"Ongeldige waarde ({loc}): {err['msg']}",
                    f"Invalid value ({loc}): {err['msg']}",
                    row=n,
                )
            )
        return None, None


def _derived_id(codes: ProductCodes, name: str, start: date) -> str:
    """Without regel_id, key on product and start so a resend matches the same item."""
    product = codes.prk or codes.hpk or codes.gpk or codes.zi or name.lower()[:150]
    return f"csv:{product}:{start.isoformat()}"


def _bsn(raw: str) -> str:
    value = raw.replace(" ", "").replace(".", "")
    if len(value) == 8 and value.isdigit():
        value = "0" + value  # spreadsheets drop the leading zero
    if not is_valid_bsn(value):
        raise _CellError(
            f"'{raw}' is geen geldig BSN (elfproef)", f"'{raw}' is not a valid BSN (eleven test)"
        )
    return value


def _date(raw: str) -> date:
    m = _DATE_RE.match(raw)
    if m:
        try:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            pass
    raise _CellError(
        f"'{raw}' is geen datum in de vorm dd-mm-jjjj",
        f"'{raw}' is not a date in the form dd-mm-yyyy",
    )


def _dec(raw: str) -> Decimal:
    if "." in raw:
        # 1.500 is "one thousand five hundred" in Dutch; refuse rather than guess
        raise _CellError(
            f"'{raw}': gebruik een komma als decimaalteken, geen punt",
            f"'{raw}': use a decimal comma, not a point",
        )
    if not _DEC_RE.match(raw):
        raise _CellError(f"'{raw}' is geen getal", f"'{raw}' is not a number")
    try:
        return Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise _CellError(f"'{raw}' is geen getal", f"'{raw}' is not a number") from None


def _pos_dec(raw: str) -> Decimal:
    value = _dec(raw)
    if value <= 0:
        raise _CellError(f"'{raw}' moet groter dan 0 zijn", f"'{raw}' must be greater than 0")
    return value


def _pos_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 6:
        raise _CellError(
            f"'{raw}' moet een geheel getal van 1 of meer zijn",
            f"'{raw}' must be a whole number of 1 or more",
        )
    return int(raw)


def _dose(raw: str) -> tuple[Decimal, Decimal | None]:
    parts = [p.strip() for p in re.split(r"\s*(?:-|à|tot)\s*", raw)]
    if len(parts) == 1:
        return _pos_dec(parts[0]), None
    if len(parts) == 2:
        lo, hi = _pos_dec(parts[0]), _pos_dec(parts[1])
        if hi < lo:
            raise _CellError(
                f"Bereik '{raw}': het maximum is kleiner dan het minimum",
                f"Range '{raw}': the maximum is below the minimum",
            )
        return lo, hi
    raise _CellError(
        f"'{raw}' is geen dosis of bereik (bijv. 1-2)", f"'{raw}' is not a dose or range (e.g. 1-2)"
    )


def _times(raw: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,\s]+", raw):
        if not part:
            continue
        m = _TIME_RE.match(part)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise _CellError(f"'{part}' is geen tijd (uu:mm)", f"'{part}' is not a time (hh:mm)")
        out.append(f"{int(m.group(1)):02d}:{m.group(2)}")
    if len(set(out)) != len(out):
        raise _CellError("Dubbele tijd", "Duplicate time")
    return sorted(out)


def _weekdays(raw: str) -> list[int]:
    out: set[int] = set()
    for part in re.split(r"[,\s]+", raw.lower()):
        if not part:
            continue
        if part in WEEKDAY_NAMES:
            out.add(WEEKDAY_NAMES[part])
        elif part.isdigit() and 1 <= int(part) <= 7:
            out.add(int(part))
        else:
            raise _CellError(
                f"'{part}' is geen weekdag (ma,di,wo,do,vr,za,zo)",
                f"'{part}' is not a weekday (ma,di,wo,do,vr,za,zo)",
            )
    return sorted(out)


def _day_parts(raw: str) -> list[DayPart]:
    found: set[DayPart] = set()
    for part in raw.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in DAY_PART_NAMES:
            raise _CellError(
                f"Onbekend dagdeel '{part.strip()}' (ochtend, middag, avond of nacht)",
                f"Unknown part of day '{part.strip()}' (ochtend, middag, avond or nacht)",
            )
        found.add(DAY_PART_NAMES[name])
    return [p for p in DAY_PART_ORDER if p in found]


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise _CellError(f"'{raw}': gebruik ja of nee", f"'{raw}': use ja or nee")


def _stop(raw: str) -> str:
    value = raw.lower()
    if value in ("gestopt", "stop", "gestaakt"):
        return "stopped"
    if value in ("onderbroken", "gepauzeerd"):
        return "paused"
    raise _CellError(
        f"'{raw}': gebruik 'gestopt' of 'onderbroken'", f"'{raw}': use 'gestopt' or 'onderbroken'"
    )


# ---------------------------------------------------------------- writer

# Spreadsheets execute cells starting with these; the writer prefixes a quote (OWASP
# "CSV injection") and the reader takes it off again, so export → import round-trips.
_FORMULA_START = ("=", "+", "-", "@")


def _cell_in(raw: str) -> str:
    value = raw.strip()
    # the export's "'" before a formula-looking cell, or before a cell that itself
    # began with "'" (so that "'@" survives the round trip)
    if len(value) > 1 and value[0] == "'" and (value[1] in _FORMULA_START or value[1] == "'"):
        return value[1:]
    return value


def _cell_out(value: str) -> str:
    return "'" + value if value.startswith((*_FORMULA_START, "'")) else value


def _fmt_dec(d: Decimal | None) -> str:
    if d is None:
        return ""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _fmt_bool(b: bool | None) -> str:
    return "" if b is None else ("ja" if b else "nee")


def _fmt_date(d: date | None) -> str:
    return "" if d is None else f"{d.day:02d}-{d.month:02d}-{d.year:04d}"


def item_row(bsn: str, client_name: str | None, item: ItemDraft) -> list[str]:
    """One CSV row for one item, in COLUMNS order."""
    s = item.schedule
    dose = item.dose
    dose_text = ""
    if dose is not None:
        dose_text = (
            _fmt_dec(dose.value)
            if dose.value is not None
            else f"{_fmt_dec(dose.low)}-{_fmt_dec(dose.high)}"
        )
    start = item.period_start or (s.start.astimezone(AMS).date() if s.start else None)
    values = {
        "bsn": bsn,
        "client_naam": client_name or "",
        "regel_id": item.source_id,
        "geneesmiddel": item.medication_name,
        "zi": item.codes.zi or "",
        "hpk": item.codes.hpk or "",
        "prk": item.codes.prk or "",
        "gpk": item.codes.gpk or "",
        "atc": item.codes.atc or "",
        "sterkte": item.strength or "",
        "vorm": item.form or "",
        "dosis": dose_text,
        "eenheid": dose.unit if dose else "",
        "eenheid_code": (dose.unit_code or "") if dose else "",
        "toedieningsweg": item.route or "",
        "toedieningsweg_code": item.route_code or "",
        "tijden": ",".join(s.times_of_day),
        "weekdagen": ",".join(WEEKDAY_SHORT[w] for w in s.weekdays),
        "dagdelen": ",".join(DAY_PART_SHORT[p] for p in s.day_parts),
        "frequentie": str(s.frequency) if s.frequency is not None else "",
        "frequentie_max": str(s.frequency_max) if s.frequency_max is not None else "",
        "per_dagen": _fmt_dec(s.period_days) if s.frequency is not None else "",
        "interval_dagen": str(s.interval_days) if s.interval_days is not None else "",
        "cyclus_dagen": str(s.cycle_length_days) if s.cycle_length_days is not None else "",
        "cyclus_aan_dagen": str(s.cycle_on_days) if s.cycle_on_days is not None else "",
        "startdatum": _fmt_date(start),
        "einddatum": _fmt_date(item.period_end),
        "zo_nodig": _fmt_bool(item.prn),
        "zo_nodig_reden": item.prn_indication or "",
        "zo_nodig_max_24u": _fmt_dec(item.prn_max_per_24h),
        "gds": _fmt_bool(item.in_gds),
        "dispenser": _fmt_bool(item.dispenser_managed),
        "risicovol": _fmt_bool(item.high_risk_flag),
        "exact_tijdstip": _fmt_bool(item.exact_time),
        "gestopt": {"stopped": "gestopt", "paused": "onderbroken"}.get(item.stop_type or "", "")
        if item.stopped
        else "",
        "stop_reden": item.stop_reason or "",
        "reden_wijziging": item.change_reason or "",
        "instructie": item.instructions or "",
    }
    return [_cell_out(values[c]) for c in COLUMN_NAMES]


def write_csv(drafts: Iterable[ClientListDraft], *, bom: bool = True) -> bytes:
    """Drafts → CSV bytes in the import format (UTF-8 with BOM so Excel reads it right)."""
    buf = io.StringIO()
    w = csv.writer(
        buf, delimiter=";", quotechar='"', lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL
    )
    w.writerow(COLUMN_NAMES)
    for d in drafts:
        for item in d.items:
            w.writerow(item_row(d.bsn, d.client_name, item))
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")
