"""Mapped MP9 fields on the client page: reason for change, parts of the day, 1-2x a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from etrs.importers import import_bytes
from etrs.lists import store_list_version
from hub.store.db import unit_of_work
from tests.integration.test_web_round import _browser, seed_world

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mp9"


@pytest.mark.skipif(not DATA.exists(), reason="Nictiz MP9 examples not present")
def test_nictiz_reason_day_part_and_variable_frequency_show_on_the_client_page(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    items = []
    for name in ("kwal-TA-script1", "tst-TA-Scenarioset6"):
        result = import_bytes(
            (DATA / f"mgsets-mp-smg-{name}-v30.xml").read_bytes(), "application/fhir+xml"
        )
        assert result.ok
        items.extend(result.drafts[0].items)
    with unit_of_work(sessions) as s:
        # the examples' items, sent for our synthetic client (the examples' BSN is not ours)
        (draft,) = import_bytes(
            (DATA / "mgsets-mp-smg-kwal-TA-script1-v30.xml").read_bytes(),
            "application/fhir+xml",
        ).drafts
        store_list_version(
            s,
            pharmacy_id=w.pharmacy_id,
            draft=draft.model_copy(update={"bsn": w.bsn, "items": items}),
            actor="pharmacy",
            source="fhir",
            now=datetime.now(UTC) - timedelta(minutes=5),
        )
    c = _browser(sessions, w.anna)
    page = c.get(f"/clients/{w.client_id}").text
    changes = page.split('id="changes"')[1].split("</section>")[0]
    assert "reden wijziging: gebrek aan geneesmiddeleffect" in changes
    listed = page.split('id="list"')[1].split("</section>")[0]
    assert "reden wijziging: gebrek aan geneesmiddeleffect" in listed
    assert "avond" in listed
    assert "1–2× per dag" in listed
