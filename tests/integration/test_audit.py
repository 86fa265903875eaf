"""The audit chain: sealed in commit order, and any edit, deletion or unsealing shows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub import audit
from hub.store.models import AuditEntry


def _rec(s: Session, what: str) -> AuditEntry:
    return audit.record(
        s, actor="anna", action=what, object_type="client", object_id="c1", source="test"
    )


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
        entries = [_rec(s, f"view-{i}") for i in range(4)]
        s.commit()
        ids = [e.id for e in entries]  # assigned when the sealed entries are written
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


def test_entries_are_visible_in_their_transaction_and_sealed_at_commit(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s:
        first = _rec(s, "one")
        # a query in the same transaction sees the entry (written unsealed, not in the chain)
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 1
        assert first.chain_seq is None
        assert audit.verify(s).ok
        second = _rec(s, "two")
        s.commit()
        assert (first.chain_seq, second.chain_seq) == (1, 2)
        assert second.prev_hash == first.hash
        assert list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.chain_seq))) == [
            "one",
            "two",
        ]
        assert audit.verify(s).ok


def test_an_entry_nothing_flushed_is_inserted_sealed_not_updated(
    sessions: sessionmaker[Session],
) -> None:
    statements: list[str] = []

    def _log(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    with sessions() as s:
        s.scalar(select(func.count()).select_from(AuditEntry))
        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", _log)
        try:
            entry = _rec(s, "one")
            s.commit()
        finally:
            event.remove(engine, "before_cursor_execute", _log)
        assert entry.chain_seq == 1
        assert entry.id is not None
        assert audit.verify(s).ok
    audit_writes = [x.split()[0] for x in statements if "audit_log" in x and "SELECT" not in x]
    assert audit_writes == ["INSERT"]
