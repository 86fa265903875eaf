"""Large synthetic pharmacy uploads: 5,000 clients in one bundle (the issue's size; its
speed is measured by bench/import.py), and 500-client cross-format checks."""

from __future__ import annotations

import json

from etrs.bsn import is_valid_bsn
from etrs.importers import import_bytes, write_csv
from etrs.importers.synthetic import bundle, fake_bsn, to_xml

CLIENTS = 500
LARGE = 5000


def test_5000_client_bundle_gives_one_list_per_client() -> None:
    b = bundle(LARGE, items_per_client=4)
    data = json.dumps(b).encode()
    result = import_bytes(data, "application/fhir+json")
    assert result.ok, result.issues[:3]
    assert len(result.drafts) == LARGE
    assert [d.bsn for d in result.drafts] == [fake_bsn(n) for n in range(LARGE)]
    assert all(len(d.items) == 4 for d in result.drafts)
    assert result.stats == {
        "entries": len(b["entry"]),
        "ta": 4 * LARGE,
        "clients": LARGE,
        "items": 4 * LARGE,
    }
    # deterministic: the same bytes give the same drafts, so a content hash dedups resends
    assert import_bytes(data, "application/fhir+json").drafts == result.drafts


def test_500_client_xml_and_csv_agree_with_json() -> None:
    b = bundle(CLIENTS, items_per_client=2, seed=3)
    as_json = import_bytes(json.dumps(b).encode(), "application/fhir+json")
    as_xml = import_bytes(to_xml(b).encode(), "application/fhir+xml")
    assert as_xml.ok
    assert as_xml.drafts == as_json.drafts
    csv_result = import_bytes(write_csv(as_json.drafts), "text/csv")
    assert csv_result.ok
    assert [d.bsn for d in csv_result.drafts] == [d.bsn for d in as_json.drafts]
    for a, c in zip(as_json.drafts, csv_result.drafts, strict=True):
        assert [(i.source_id, i.dose, i.schedule.times_of_day) for i in a.items] == [
            (i.source_id, i.dose, i.schedule.times_of_day) for i in c.items
        ]


def test_fake_bsns_pass_the_elfproef_and_are_distinct() -> None:
    numbers = [fake_bsn(n) for n in range(2000)]
    assert len(set(numbers)) == 2000
    assert all(is_valid_bsn(b) for b in numbers)
    assert not is_valid_bsn("123456789")
    assert not is_valid_bsn("12345678")
    assert is_valid_bsn("999901059")  # the Nictiz test patient


def test_progress_is_reported_and_gc_thresholds_are_restored() -> None:
    import gc

    before = gc.get_threshold()
    calls: list[tuple[int, int]] = []
    data = json.dumps(bundle(300, items_per_client=4)).encode()
    result = import_bytes(data, "application/fhir+json", progress=lambda d, t: calls.append((d, t)))
    assert result.ok
    total = 300 * 5 + 6
    assert calls[0] == (0, total)
    assert [d for d, _ in calls] == list(range(0, total, 500))
    assert gc.get_threshold() == before
