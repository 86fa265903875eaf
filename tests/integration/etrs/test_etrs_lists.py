"""List versions: immutable, idempotent on equal content, with a diff against the previous."""

from __future__ import annotations

from datetime import timedelta

import pytest
from etrs_world import T0, World, item

from etrs.drafts import ClientListDraft
from etrs.lists import ListError, latest_version, list_changes, store_list_version
from hub.auth.service import NotFoundError


def test_equal_content_returns_the_existing_version(world: World) -> None:
    items = [item("a", "Metoprolol 50mg"), item("b", "Omeprazol 20mg", times=("08:00", "20:00"))]
    first = world.store(items)
    again = world.store(list(reversed(items)), at=T0 + timedelta(hours=1))
    assert first.created
    assert not again.created
    assert again.version.id == first.version.id
    assert latest_version(world.session, client_id=world.client.id).version_no == 1


def test_new_version_diff_lists_added_stopped_and_changed(world: World) -> None:
    world.store(
        [
            item("a", "Metoprolol 50mg", dose="1"),
            item("b", "Omeprazol 20mg", times=("08:00",)),
            item("c", "Furosemide 40mg", route="oraal"),
            item("d", "Paracetamol 500mg"),
            item("e", "Simvastatine 40mg", times=("20:00",)),
        ]
    )
    second = world.store(
        [
            item("a", "Metoprolol 50mg", dose="2"),
            item("b", "Omeprazol 20mg", times=("07:00",)),
            item("c", "Furosemide 40mg", route="intraveneus"),
            item("e", "Simvastatine 40mg", times=("20:00",)),
            item("f", "Macrogol sachet"),
        ],
        at=T0 + timedelta(days=1),
    )
    diff = second.diff
    assert second.created
    assert second.version.version_no == 2
    assert second.version.supersedes_id is not None
    assert [a["name"] for a in diff["added"]] == ["Macrogol sachet"]
    assert [s["name"] for s in diff["stopped"]] == ["Paracetamol 500mg"]
    changes = {c["name"]: c["changes"] for c in diff["changed"]}
    assert changes == {
        "Metoprolol 50mg": ["dose"],
        "Omeprazol 20mg": ["time"],
        "Furosemide 40mg": ["route"],
    }
    assert diff["unchanged"] == 1


def test_stop_flag_shows_as_stopped(world: World) -> None:
    world.store([item("a", "Metoprolol 50mg")])
    second = world.store(
        [
            item(
                "a", "Metoprolol 50mg", stopped=True, stop_type="stopped", stop_reason="bradycardie"
            )
        ],
        at=T0 + timedelta(days=1),
    )
    assert [s["reason"] for s in second.diff["stopped"]] == ["bradycardie"]


def test_pharmacy_cannot_upload_for_a_client_it_does_not_supply(world: World) -> None:
    assert world.other_client.bsn is not None
    with pytest.raises(NotFoundError):
        store_list_version(
            world.session,
            pharmacy_id=world.pharmacy.id,
            draft=ClientListDraft(bsn=world.other_client.bsn, items=[item("a", "X")]),
            actor="pharmacy",
            source="csv",
            now=T0,
        )


def test_bsn_failing_elfproef_is_refused(world: World) -> None:
    with pytest.raises(ListError, match="elfproef"):
        store_list_version(
            world.session,
            pharmacy_id=world.pharmacy.id,
            draft=ClientListDraft(bsn="123456789", items=[item("a", "X")]),
            actor="pharmacy",
            source="csv",
            now=T0,
        )


def test_list_changes_is_scoped_and_reports_acknowledgement(world: World) -> None:
    stored = world.store([item("a", "Metoprolol 50mg")])
    view = list_changes(world.session, user=world.anna, client_id=world.client.id, source="t")
    assert view["acknowledged"] is False
    world.ack(world.anna, stored.version.id)
    view = list_changes(world.session, user=world.anna, client_id=world.client.id, source="t")
    assert view["acknowledged"] is True
    with pytest.raises(NotFoundError):
        list_changes(world.session, user=world.dirk, client_id=world.client.id, source="t")


def test_product_table_csv_import_classifies_and_is_all_or_nothing(world: World) -> None:
    from etrs.lists import classify_item, import_product_classes_csv, items_of
    from etrs.risk import RiskPolicy

    stored = world.store([item("x", "Oxycodon 5mg", gpk="5551", in_gds=False)])
    it = items_of(world.session, version_id=stored.version.id)[0]
    assert classify_item(world.session, it, RiskPolicy()).status == "unclassified"
    with pytest.raises(ValueError, match="line 3"):
        import_product_classes_csv(
            world.session,
            user=world.pia,
            source="t",
            text="code_system,code,class\ngpk,5551,opioid\nxyz,1,none\n",
        )
    assert classify_item(world.session, it, RiskPolicy()).status == "unclassified"
    n = import_product_classes_csv(
        world.session, user=world.pia, source="t", text="code_system,code,class\ngpk,5551,opioid\n"
    )
    assert n == 1
    c = classify_item(world.session, it, RiskPolicy())
    assert (c.status, c.risk_class, c.sources) == ("high_risk", "opioid", ("product_table",))


def test_day_parts_maximum_frequency_and_reason_for_change_are_stored_and_diffed(
    world: World,
) -> None:
    from etrs.drafts import Schedule
    from etrs.lists import items_of

    world.store([item("a", "Oxazepam 10mg", times=())])
    new = item("a", "Oxazepam 10mg", times=(), change_reason="gebrek aan geneesmiddeleffect")
    new = new.model_copy(
        update={"schedule": Schedule(day_parts=["EVE"], frequency=1, frequency_max=2)}
    )
    second = world.store([new], at=T0 + timedelta(days=1))
    (stored,) = items_of(world.session, version_id=second.version.id)
    assert stored.change_reason == "gebrek aan geneesmiddeleffect"
    assert stored.schedule["day_parts"] == ["EVE"]
    assert stored.schedule["frequency_max"] == 2
    (changed,) = second.diff["changed"]
    assert changed["changes"] == ["time"]
    assert changed["change_reason"] == "gebrek aan geneesmiddeleffect"
    assert changed["day_parts"] == ["EVE"]
    after = changed["detail"]["time"][1]
    assert (after["day_parts"], after["frequency_max"]) == (["EVE"], 2)


def test_lists_stored_before_the_new_fields_keep_their_hash() -> None:
    """A resend of a list stored before day parts etc. existed must stay a no-op."""
    import hashlib
    import json

    from etrs.lists import content_hash

    draft = ClientListDraft(bsn="999900018", items=[item("a", "Metoprolol 50mg")])
    old_fields = {"change_reason"}
    old_schedule = {"frequency_max", "day_parts"}
    rows = []
    for i in draft.items:
        data = {k: v for k, v in i.model_dump(mode="json").items() if k not in old_fields}
        data["schedule"] = {k: v for k, v in data["schedule"].items() if k not in old_schedule}
        rows.append(json.dumps(data, sort_keys=True, separators=(",", ":")))
    body = json.dumps([draft.bsn, sorted(rows)], separators=(",", ":"))
    assert content_hash(draft) == hashlib.sha256(body.encode()).hexdigest()


def test_bulk_store_matches_one_by_one_and_refuses_all_for_one_unknown_client(
    world: World,
) -> None:
    from sqlalchemy import func, select

    from etrs.lists import DraftRefused, store_list_versions
    from etrs.models import ListVersion
    from hub.store.models import AuditEntry

    assert world.client.bsn is not None
    assert world.other_client.bsn is not None
    first = ClientListDraft(bsn=world.client.bsn, items=[item("a", "Metoprolol 50mg")])
    second = ClientListDraft(bsn=world.client.bsn, items=[item("a", "Metoprolol 50mg", dose="2")])
    before = world.session.scalar(select(func.count()).select_from(AuditEntry))
    seen: list[int] = []
    out = store_list_versions(
        world.session,
        pharmacy_id=world.pharmacy.id,
        drafts=[first, second, first],
        actor="pharmacy",
        source="fhir",
        now=T0,
        on_stored=lambda: seen.append(1),
    )
    # the same client twice in one upload: each list supersedes the one before it
    assert [(v.version_no, v.created) for v in out] == [(1, True), (2, True), (3, True)]
    assert [c["name"] for c in out[1].diff["changed"]] == ["Metoprolol 50mg"]
    assert len(seen) == 3
    versions = world.session.scalars(
        select(ListVersion)
        .where(ListVersion.client_id == world.client.id)
        .order_by(ListVersion.version_no)
    ).all()
    assert [v.supersedes_id for v in versions] == [None, versions[0].id, versions[1].id]
    after = world.session.scalar(select(func.count()).select_from(AuditEntry))
    assert after == (before or 0) + 3
    again = store_list_versions(
        world.session,
        pharmacy_id=world.pharmacy.id,
        drafts=[first],
        actor="pharmacy",
        source="fhir",
        now=T0,
    )
    assert [(v.version_no, v.created) for v in again] == [(3, False)]
    with pytest.raises(DraftRefused) as refused:
        store_list_versions(
            world.session,
            pharmacy_id=world.pharmacy.id,
            drafts=[second, ClientListDraft(bsn=world.other_client.bsn, items=[item("a", "X")])],
            actor="pharmacy",
            source="fhir",
            now=T0,
        )
    assert refused.value.bsn == world.other_client.bsn
    assert isinstance(refused.value.error, NotFoundError)
    # refused before anything was written
    assert latest_version(world.session, client_id=world.client.id).version_no == 3
