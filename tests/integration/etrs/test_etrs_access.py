"""Team scoping (others get 404) and the NEN 7513 access log: reads are logged, tampering shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from etrs_world import T0, World, item
from sqlalchemy import func, select, text

from etrs.lists import list_changes
from etrs.service import client_history, moments_for, sign_off
from hub import audit
from hub.auth.service import NotFoundError, require_client_access, visible_client_ids
from hub.store.models import AuditEntry

DAY = date(2026, 3, 21)
NOW = datetime(2026, 3, 21, 7, 5, tzinfo=UTC)


def _entries(world: World, action: str, actor: str) -> int:
    return (
        world.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == action,
                AuditEntry.actor == actor,
                AuditEntry.client_id == world.client.id,
            )
        )
        or 0
    )


def test_nurse_sees_only_her_teams_clients(world: World) -> None:
    world.store([item("a", "Metoprolol 50mg")])
    assert world.client.id in visible_client_ids(world.session, world.anna)
    assert world.client.id not in visible_client_ids(world.session, world.dirk)
    assert world.other_client.id not in visible_client_ids(world.session, world.anna)
    assert visible_client_ids(world.session, world.pia) == {world.client.id}
    assert moments_for(world.session, user=world.dirk, day=DAY, source="t", now=NOW) == []
    for call in (
        lambda: moments_for(
            world.session, user=world.dirk, day=DAY, source="t", client_id=world.client.id, now=NOW
        ),
        lambda: client_history(
            world.session, user=world.dirk, client_id=world.client.id, start=T0, end=NOW, source="t"
        ),
        lambda: require_client_access(world.session, world.dirk, "no-such-client"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_inactive_user_sees_nothing(world: World) -> None:
    world.anna.active = False
    assert visible_client_ids(world.session, world.anna) == set()
    with pytest.raises(NotFoundError):
        require_client_access(world.session, world.anna, world.client.id)


def test_every_read_of_client_data_leaves_an_access_log_entry(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    world.ack(world.anna, stored.version.id)
    before = _entries(world, "etrs.moments.read", world.anna.id)
    ms = moments_for(world.session, user=world.anna, day=DAY, source="http:10.0.0.7", now=NOW)
    assert _entries(world, "etrs.moments.read", world.anna.id) == before + 1
    list_changes(world.session, user=world.anna, client_id=world.client.id, source="t")
    assert _entries(world, "etrs.list.read", world.anna.id) == 1
    client_history(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        start=T0,
        end=NOW + timedelta(days=1),
        source="t",
        now=NOW,
    )
    assert _entries(world, "etrs.history.read", world.anna.id) == 1
    sign_off(
        world.session,
        user=world.anna,
        client_id=world.client.id,
        moment_key=ms[0].key,
        outcome="given",
        source="t",
        now=NOW,
    )
    assert _entries(world, "etrs.administration.create", world.anna.id) == 1
    entry = world.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "etrs.moments.read", AuditEntry.actor == world.anna.id
        )
    )
    assert entry is not None
    assert entry.source == "http:10.0.0.7"


def test_a_tampered_access_log_entry_is_detected(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    world.ack(world.anna, stored.version.id)
    moments_for(world.session, user=world.anna, day=DAY, source="t", now=NOW)
    world.session.commit()  # entries join the chain at commit
    report = audit.verify(world.session)
    assert report.ok
    assert report.entries > 0
    target = world.session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == "etrs.moments.read", AuditEntry.actor == world.anna.id
        )
    )
    # Someone rewrites history: the entry now says another person looked.
    world.session.execute(
        text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :id"), {"id": target}
    )
    world.session.expire_all()
    report = audit.verify(world.session)
    assert not report.ok
    assert report.first_bad_id == target
