"""Correcting a wrong registration from the client page: a new record, never an update."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from etrs.fhir_export import export_bundle
from etrs.models import Administration
from etrs.schemas import WRONG_REGISTRATION_CODE
from hub.audit import verify
from hub.auth.models import User
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry
from tests.integration.test_web_round import (
    _browser,
    _moment_key,
    _post,
    seed_world,
)


def _columns(rec: Administration) -> dict[str, object]:
    return {c.key: getattr(rec, c.key) for c in Administration.__table__.columns}


def test_nurse_corrects_a_wrong_registration_with_a_new_record(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    key = _moment_key(c.get("/round").text, "Metoprolol 50mg")
    data = {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    assert _post(c, "/round/sign-off", data).status_code == 303
    with unit_of_work(sessions) as s:
        (original,) = s.scalars(
            select(Administration).where(Administration.client_id == w.client_id)
        ).all()
        before = _columns(original)
    page = c.get(f"/clients/{w.client_id}").text
    link = f"/clients/{w.client_id}/correct/{original.id}"
    assert f'href="{link}"' in page
    form = c.get(link)
    assert form.status_code == 200
    assert "Registratie corrigeren" in form.text
    assert "Metoprolol 50mg" in form.text

    r = _post(c, link, {"outcome": "entered_in_error", "reason_text": "verkeerde cliënt"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/clients/{w.client_id}?corrected=1#history"

    with unit_of_work(sessions) as s:
        recs = s.scalars(
            select(Administration)
            .where(Administration.client_id == w.client_id)
            .order_by(Administration.recorded_at)
        ).all()
        assert len(recs) == 2
        old, new = (r for r in sorted(recs, key=lambda r: r.corrects_id is not None))
        # the wrong record is untouched; the correction points at it
        assert _columns(old) == before
        assert new.corrects_id == old.id
        assert new.outcome == "entered_in_error"
        assert new.reason_text == "verkeerde cliënt"
        assert new.recorded_by != ""
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == new.id)).all()
        assert "etrs.administration.correct" in actions
        assert verify(s).ok
        anna = s.scalar(select(User).where(User.username == w.anna))
        assert anna is not None
        bundle = export_bundle(
            s,
            user=anna,
            client_id=w.client_id,
            start=old.recorded_at.replace(year=2000),
            end=old.recorded_at.replace(year=2100),
            source="test",
        )
    codes = re.findall(r"'code': '(\d+)'", str(bundle))
    assert WRONG_REGISTRATION_CODE in codes

    page = c.get(f"/clients/{w.client_id}?corrected=1").text
    assert "Correctie opgeslagen" in page
    old_row = page.split(f'id="rec-{old.id}"')[1].split("</tr>")[0]
    new_row = page.split(f'id="rec-{new.id}"')[1].split("</tr>")[0]
    assert 'class="corrected"' in old_row
    assert "gecorrigeerd" in old_row
    assert f'href="{link}"' not in page  # a corrected record cannot be corrected again
    assert "correctie" in new_row
    assert "onjuist geregistreerd" in new_row

    # correcting the old record again is refused in Dutch; the new one can be corrected
    again = _post(c, link, {"outcome": "given", "actual_time": "", "amount": ""})
    assert again.status_code == 409
    assert "al gecorrigeerd" in again.text
    fix = _post(
        c,
        f"/clients/{w.client_id}/correct/{new.id}",
        {"outcome": "not_given", "reason_code": "406149000"},
    )
    assert fix.status_code == 303
    with unit_of_work(sessions) as s:
        third = s.scalar(select(Administration).where(Administration.corrects_id == new.id))
        assert third is not None
        assert (third.outcome, third.reason_code) == ("not_given", "406149000")


def test_correction_needs_a_reason_for_not_given_and_stays_in_the_team(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    key = _moment_key(c.get("/round").text, "Metoprolol 50mg")
    data = {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    assert _post(c, "/round/sign-off", data).status_code == 303
    with unit_of_work(sessions) as s:
        rec_id = s.scalar(select(Administration.id).where(Administration.client_id == w.client_id))
    link = f"/clients/{w.client_id}/correct/{rec_id}"
    r = _post(c, link, {"outcome": "not_given", "reason_code": ""})
    assert r.status_code == 409
    assert "Kies een reden" in r.text
    # a nurse of another team gets a plain 404, for the form and for the post
    dirk = _browser(sessions, w.dirk)
    assert dirk.get(link).status_code == 404
    assert _post(dirk, link, {"outcome": "entered_in_error"}).status_code == 404
    with unit_of_work(sessions) as s:
        n = len(
            s.scalars(select(Administration).where(Administration.client_id == w.client_id)).all()
        )
    assert n == 1
