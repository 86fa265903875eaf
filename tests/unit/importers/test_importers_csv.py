"""Dutch pharmacy CSV: encodings, decimal comma, dates, row/column errors, and round trips."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etrs.drafts import DAY_PART_ORDER, ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule
from etrs.importers import Limits, import_bytes, operation_outcome, write_csv
from etrs.importers.csv_format import COLUMN_NAMES, parse_csv
from etrs.importers.synthetic import fake_bsn

AMS = ZoneInfo("Europe/Amsterdam")
BSN = fake_bsn(7)
HEADER = "bsn;client_naam;geneesmiddel;dosis;eenheid;tijden;weekdagen;startdatum;einddatum;gds"


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def test_minimal_row_maps_every_column() -> None:
    text = _csv(f"{BSN};Mevr. Test;Metformine 500 mg;1,5;stuk;08:00, 18:00;ma,wo;01-02-2026;;ja")
    result = parse_csv(text.encode())
    assert result.ok, result.issues
    (draft,) = result.drafts
    assert draft.bsn == BSN
    assert draft.client_name == "Mevr. Test"
    (item,) = draft.items
    assert item.dose == Dose(value=Decimal("1.5"), unit="stuk")
    assert item.schedule.times_of_day == ["08:00", "18:00"]
    assert item.schedule.weekdays == [1, 3]
    assert item.schedule.start == datetime(2026, 2, 1, tzinfo=AMS)
    assert item.schedule.end is None
    assert item.period_start == date(2026, 2, 1)
    assert item.in_gds is True
    assert item.source_id == "csv:metformine 500 mg:2026-02-01"


def test_windows_1252_and_bom_variants_give_the_same_result() -> None:
    text = _csv(f"{BSN};Zoë Ämmerlaan;Paracetamol ‘zetpil’ 500 mg;1;stuk;08:00;;01-02-2026;;nee")
    utf8 = parse_csv(text.encode("utf-8"))
    bom = parse_csv(b"\xef\xbb\xbf" + text.encode("utf-8"))
    cp1252 = parse_csv(text.encode("cp1252"))
    utf16 = parse_csv(text.encode("utf-16"))
    assert utf8.ok
    assert utf8.drafts == bom.drafts == cp1252.drafts == utf16.drafts
    assert utf8.drafts[0].client_name == "Zoë Ämmerlaan"


def test_excel_sep_line_and_header_spelling_are_tolerated() -> None:
    header = "BSN;Client naam;Geneesmiddel;Startdatum"
    text = "sep=;\r\n" + _csv(f"{BSN};X;Omeprazol;05-01-2026", header=header)
    result = parse_csv(text.encode())
    assert result.ok
    assert result.drafts[0].items[0].medication_name == "Omeprazol"


def test_errors_name_row_and_column_in_dutch_and_english() -> None:
    text = _csv(
        f"{BSN};A;Metformine;1;stuk;08:00;;01-02-2026;;ja",
        "123456789;B;Omeprazol;1.5;stuk;25:00;mo;31-02-2026;;misschien",
    )
    result = parse_csv(text.encode())
    assert not result.ok
    assert result.drafts == ()  # row 2 was fine, but nothing is imported
    where = {(e.row, e.column) for e in result.errors}
    assert where == {
        (3, "bsn"),
        (3, "dosis"),
        (3, "tijden"),
        (3, "weekdagen"),
        (3, "startdatum"),
        (3, "gds"),
    }
    dosis = next(e for e in result.errors if e.column == "dosis")
    assert "komma" in dosis.message_nl
    assert "comma" in dosis.message_en
    oo = operation_outcome(result)
    assert "row[3].dosis" in {x for i in oo["issue"] for x in i.get("expression", [])}


def test_missing_required_column_and_wrong_separator() -> None:
    (err,) = parse_csv(b"bsn;geneesmiddel\r\n").errors
    assert (err.row, err.column) == (1, "startdatum")
    (sep,) = parse_csv(b"bsn,geneesmiddel,startdatum\r\n1,2,3\r\n").errors
    assert "puntkomma" in sep.message_nl


def test_end_before_start_and_duplicate_line_id() -> None:
    header = "bsn;regel_id;geneesmiddel;startdatum;einddatum"
    text = _csv(
        f"{BSN};r1;A;10-01-2026;09-01-2026",
        f"{BSN};r2;B;10-01-2026;",
        f"{BSN};r2;C;10-01-2026;",
        header=header,
    )
    errors = parse_csv(text.encode()).errors
    assert [(e.row, e.column) for e in errors] == [(2, "einddatum"), (4, "regel_id")]


def test_rows_limit_and_binary_input() -> None:
    text = _csv(*[f"{BSN};A;M{i};1;stuk;08:00;;01-02-2026;;ja" for i in range(5)])
    assert parse_csv(text.encode(), limits=Limits(max_rows=4)).errors[0].code == "too-costly"
    assert not parse_csv(b"\x00\x01\x02PK\x03\x04").ok


def test_formula_looking_cells_are_defused_on_export_and_restored_on_import() -> None:
    item = ItemDraft(
        source_id="r1",
        medication_name='=HYPERLINK("x")',
        instructions="-1 tablet minder bij duizeligheid",
        schedule=Schedule(start=datetime(2026, 1, 1, tzinfo=AMS)),
        period_start=date(2026, 1, 1),
    )
    data = write_csv([ClientListDraft(bsn=BSN, items=[item])])
    assert b"'=HYPERLINK" in data
    assert b";'-1 tablet" in data
    assert parse_csv(data).drafts[0].items == [item]


# ------------------------------------------------------------------ round trip property

_text = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_opt_text = st.none() | _text
_code = st.none() | st.from_regex(r"\A[0-9]{1,8}\Z")
_dec = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(9999), places=3)
_times = st.lists(
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
    unique=True,
    max_size=5,
).map(sorted)


@st.composite
def _items(draw: st.DrawFn, source_id: str) -> ItemDraft:
    start = draw(st.dates(date(2020, 1, 1), date(2035, 12, 31)))
    end = draw(st.none() | st.integers(0, 400).map(lambda d: start + timedelta(days=d)))
    dose: Dose | None = draw(
        st.none()
        | st.builds(Dose, value=_dec, unit=_text, unit_code=_code)
        | _dec.flatmap(
            lambda lo: st.builds(
                Dose,
                low=st.just(lo),
                high=_dec.filter(lambda hi: hi >= lo),
                unit=_text,
                unit_code=_code,
            )
        )
    )
    frequency = draw(st.none() | st.integers(1, 12))
    times = draw(_times)
    day_parts = [p for p in DAY_PART_ORDER if draw(st.booleans())]
    if day_parts and frequency is None and not times:
        frequency = len(day_parts)  # what the reader plans for parts of the day alone
    cycle = draw(st.none() | st.integers(1, 60))
    stop = draw(st.sampled_from([None, "stopped", "paused"]))
    return ItemDraft(
        source_id=source_id,
        medication_name=draw(_text),
        codes=ProductCodes(
            zi=draw(_code), hpk=draw(_code), prk=draw(_code), gpk=draw(_code), atc=draw(_code)
        ),
        strength=draw(_opt_text),
        form=draw(_opt_text),
        dose=dose,
        route=draw(_opt_text),
        route_code=draw(_code),
        schedule=Schedule(
            times_of_day=times,
            weekdays=sorted(draw(st.sets(st.integers(1, 7)))),
            day_parts=day_parts,
            frequency=frequency,
            frequency_max=draw(st.none() | st.integers(frequency, 24)) if frequency else None,
            period_days=draw(_dec) if frequency is not None else None,
            interval_days=draw(st.none() | st.integers(1, 60)),
            cycle_length_days=cycle,
            cycle_on_days=draw(st.integers(1, cycle)) if cycle else None,
            start=datetime.combine(start, time(0), tzinfo=AMS),
            end=(datetime.combine(end + timedelta(days=1), time(0), tzinfo=AMS) if end else None),
        ),
        prn=draw(st.booleans()),
        prn_indication=draw(_opt_text),
        prn_max_per_24h=draw(st.none() | _dec),
        instructions=draw(_opt_text),
        in_gds=draw(st.booleans()),
        dispenser_managed=draw(st.booleans()),
        high_risk_flag=draw(st.none() | st.booleans()),
        exact_time=draw(st.booleans()),
        stopped=stop is not None,
        stop_type=stop,
        stop_reason=draw(_opt_text) if stop else None,
        change_reason=draw(_opt_text),
        period_start=start,
        period_end=end,
    )


@st.composite
def _lists(draw: st.DrawFn) -> list[ClientListDraft]:
    numbers = draw(st.lists(st.integers(0, 10_000), unique=True, min_size=1, max_size=4))
    out = []
    for n in numbers:
        ids = draw(
            st.lists(
                st.from_regex(r"\A[A-Za-z0-9_.#:-]{1,20}\Z"), unique=True, min_size=1, max_size=4
            )
        )
        items = [draw(_items(sid)) for sid in ids]
        out.append(ClientListDraft(bsn=fake_bsn(n), client_name=draw(_opt_text), items=items))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_lists(), st.booleans())
def test_csv_round_trips_random_valid_lists(drafts: list[ClientListDraft], bom: bool) -> None:
    data = write_csv(drafts, bom=bom)
    result = import_bytes(data, "text/csv; charset=utf-8")
    assert result.ok, [(i.row, i.column, i.message_en) for i in result.issues]
    assert list(result.drafts) == drafts


def test_writer_uses_dutch_conventions() -> None:
    item = ItemDraft(
        source_id="r1",
        medication_name="Metformine",
        dose=Dose(low=Decimal("0.5"), high=Decimal(1), unit="stuk"),
        schedule=Schedule(
            times_of_day=["08:00"], weekdays=[1, 5], start=datetime(2026, 3, 9, tzinfo=AMS)
        ),
        period_start=date(2026, 3, 9),
        period_end=date(2026, 3, 29),
    )
    text = write_csv([ClientListDraft(bsn=BSN, items=[item])]).decode("utf-8-sig")
    header, row = text.splitlines()
    assert header.split(";") == list(COLUMN_NAMES)
    cells = dict(zip(COLUMN_NAMES, row.split(";"), strict=True))
    assert cells["dosis"] == "0,5-1"
    assert cells["weekdagen"] == "ma,vr"
    assert cells["startdatum"] == "09-03-2026"
    assert cells["einddatum"] == "29-03-2026"


def test_day_parts_maximum_frequency_and_reason_for_change_columns() -> None:
    header = HEADER + ";dagdelen;frequentie_max;reden_wijziging"
    text = _csv(
        f"{BSN};;Oxazepam;1;stuk;;;01-03-2026;;nee;Avond, ochtend;;gebrek aan effect", header=header
    )
    result = import_bytes(text.encode(), "text/csv")
    assert result.ok, [(i.row, i.column, i.message_en) for i in result.issues]
    (item,) = result.drafts[0].items
    # parts of the day in the day's order; alone they are planned once a day per part
    assert item.schedule.day_parts == ["MORN", "EVE"]
    assert (item.schedule.frequency, item.schedule.period_days) == (2, Decimal(1))
    assert item.change_reason == "gebrek aan effect"
    # and back out under the same column names
    assert b"ochtend,avond" in write_csv(result.drafts)


def test_maximum_frequency_needs_a_frequency_it_is_not_below() -> None:
    header = HEADER + ";frequentie;frequentie_max"
    for row in (
        f"{BSN};;Oxazepam;1;stuk;;;01-03-2026;;nee;3;2",
        f"{BSN};;Oxazepam;1;stuk;;;01-03-2026;;nee;;2",
    ):
        result = import_bytes(_csv(row, header=header).encode(), "text/csv")
        assert not result.ok
        assert [(i.row, i.column) for i in result.errors] == [(2, "frequentie_max")]
    ok = import_bytes(
        _csv(f"{BSN};;Oxazepam;1;stuk;;;01-03-2026;;nee;1;2", header=header).encode(), "text/csv"
    )
    assert ok.ok
    assert (
        ok.drafts[0].items[0].schedule.frequency,
        ok.drafts[0].items[0].schedule.frequency_max,
    ) == (1, 2)
