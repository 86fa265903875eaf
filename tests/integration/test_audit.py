"""The audit chain: sealed in commit order, and any edit, deletion or unsealing shows."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hub import audit
from hub.store.models import AuditEntry


def _rec(s: Session, what: str) -> int:
    return audit.record(
        s, actor="anna", action=what, object_type="client", object_id="c1", source="test"
    ).id


def test_interleaved_transactions_chain_in_commit_order(
    sessions: sessionmaker[Session], db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: commit order is id order there")
    a, b = sessions(), sessions()
    _rec(a, "a1")
    with sessions() as c:
        _rec(c, "c1")
        c.commit()
    _rec(a, "a2")
    a.commit()
    a.close()
    b.close()
    with sessions() as s:
        report = audit.verify(s)
        order = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.chain_seq)))
    assert report.ok
    assert report.entries == 3
    assert order == ["c1", "a1", "a2"]  # commit order, not id order


def test_a_rolled_back_entry_leaves_no_trace(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        _rec(s, "kept")
        s.commit()
        _rec(s, "dropped")
        s.rollback()
        _rec(s, "kept too")
        s.commit()
        assert audit.verify(s).entries == 2
        assert audit.verify(s).ok


def test_edits_deletions_and_unsealing_are_detected(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        ids = [_rec(s, f"view-{i}") for i in range(4)]
        s.commit()
    for tamper, bad in (
        ("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", ids[1]),
        ("DELETE FROM audit_log WHERE id = :id", ids[2]),
        ("UPDATE audit_log SET chain_seq = NULL WHERE id = :id", ids[1]),
    ):
        with sessions() as s:
            s.execute(text(tamper), {"id": bad})
            report = audit.verify(s)
            s.rollback()
        assert not report.ok, tamper
