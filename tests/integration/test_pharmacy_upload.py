"""POST /api/v1/pharmacy/lists and the upload page: real Nictiz bundles, broken CSV, scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from etrs.models import ListVersion
from hub.api.app import create_app
from hub.auth.service import create_pharmacy, create_user, issue_token, link_pharmacy_client
from hub.store.db import unit_of_work
from hub.store.models import Client

MP9 = Path(__file__).resolve().parents[3] / "shared" / "data" / "mp9"
TA1 = MP9 / "mgsets-mp-smg-kwal-TA-script1-v30.xml"
pytestmark = pytest.mark.skipif(not TA1.exists(), reason=f"Nictiz examples not found at {MP9}")
NICTIZ_BSN = "999901059"  # the (fictitious) patient of the Nictiz TA script 1 bundle


def _world(sessions: sessionmaker[Session]) -> dict[str, str]:
    now = datetime.now(UTC)
    with unit_of_work(sessions) as s:
        create_pharmacy(s, pharmacy_id="apo-1", name="Apotheek 1")
        create_pharmacy(s, pharmacy_id="apo-2", name="Apotheek 2")
        s.add(
            Client(
                id="c1",
                display_name="Cliënt (fictief)",
                bsn=NICTIZ_BSN,
                home_id=None,
                team_id=None,
                created_at=now,
            )
        )
        s.flush()
        link_pharmacy_client(s, pharmacy_id="apo-1", client_id="c1")
        tokens = {}
        for name, role, pharmacy in (
            ("piet", "pharmacist", "apo-1"),
            ("other", "pharmacist", "apo-2"),
            ("anna", "nurse", None),
        ):
            u = create_user(
                s, username=name, password="pw", display_name=name, role=role, pharmacy_id=pharmacy
            )
            tokens[name] = issue_token(s, user_id=u.id)
    return tokens


def _versions(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ListVersion)) or 0)


def test_nictiz_bundle_is_stored_once_and_only_by_its_own_pharmacy(
    sessions: sessionmaker[Session],
) -> None:
    tokens = _world(sessions)
    client = TestClient(create_app(sessions))
    body = TA1.read_bytes()

    def post(who: str, data: bytes = body, ctype: str = "application/fhir+xml") -> object:
        return client.post(
            "/api/v1/pharmacy/lists",
            content=data,
            headers={"Authorization": f"Bearer {tokens[who]}", "Content-Type": ctype},
        )

    r = post("piet")
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert r.json()["created"] == 1  # type: ignore[attr-defined]
    again = post("piet")
    assert again.json() == {**again.json(), "created": 0, "unchanged": 1}  # type: ignore[attr-defined]
    assert _versions(sessions) == 1
    # another pharmacy learns nothing and stores nothing
    r = post("other")
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert r.json()["resourceType"] == "OperationOutcome"  # type: ignore[attr-defined]
    assert _versions(sessions) == 1
    assert post("anna").status_code == 403  # type: ignore[attr-defined]
    assert post("piet", ctype="application/pdf").status_code == 415  # type: ignore[attr-defined]


def test_broken_csv_answers_row_and_column_and_stores_nothing(
    sessions: sessionmaker[Session],
) -> None:
    tokens = _world(sessions)
    client = TestClient(create_app(sessions))
    csv = "bsn;geneesmiddel;startdatum\r\n12345678;X;31-02-2026\r\n".encode("cp1252")
    r = client.post(
        "/api/v1/pharmacy/lists",
        content=csv,
        headers={
            "Authorization": f"Bearer {tokens['piet']}",
            "Content-Type": "text/csv; charset=windows-1252",
        },
    )
    assert r.status_code == 422
    errors = r.json()["csv_errors"]
    assert errors
    assert all(e["row"] is not None for e in errors)
    assert any(e["column"] for e in errors)
    assert _versions(sessions) == 0


def test_upload_page_shows_the_report_in_place(sessions: sessionmaker[Session]) -> None:
    _world(sessions)
    base = "http://testserver"
    client = TestClient(create_app(sessions), base_url=base)
    client.post("/login", data={"username": "piet", "password": "pw"}, headers={"origin": base})
    page = client.post(
        "/pharmacy/upload",
        headers={"origin": base},
        files={
            "file": (
                "lijst.csv",
                b"bsn;geneesmiddel;startdatum\r\n123456789;X;01-01-2026\r\n",
                "text/csv",
            )
        },
    )
    assert page.status_code == 422
    assert "geweigerd, niets opgeslagen" in page.text
    assert "rij 2" in page.text
    assert "kolom &#39;bsn&#39;" in page.text
    page = client.post(
        "/pharmacy/upload",
        headers={"origin": base},
        files={"file": (TA1.name, TA1.read_bytes(), "application/xml")},
    )
    assert page.status_code == 200
    assert "geaccepteerd" in page.text
    assert _versions(sessions) == 1
