"""The feed hook: every new event and status change lands in its home's shard, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devices import envelope
from devices.kinds import Kind
from devices.payloads import Heartbeat
from hub.ingest.store import BatchResult, StatusChange, StoredEvent
from hub.shards.feed import FeedHook, shard_of

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


class RecordingSession:
    """Stands in for the SQLAlchemy session: keeps the feed rows the hook writes."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def execute(self, _stmt: object, params: list[dict[str, Any]]) -> None:
        self.rows.extend(params)


def _event(home: str | None, i: int) -> StoredEvent:
    raw = envelope.encode(
        id=str(uuid.uuid4()),
        device_id="mot-1",
        ts=T0 + timedelta(seconds=i),
        seq=i + 1,
        type="heartbeat",
        data=Heartbeat(uptime_s=i),
    )
    return StoredEvent(envelope.decode(raw), Kind.MOTION, home, T0)


homes = st.one_of(st.none(), st.text(alphabet="abcdef0123456789-", min_size=1, max_size=12))


@given(
    shards=st.integers(min_value=1, max_value=64),
    event_homes=st.lists(homes, max_size=40),
    status_homes=st.lists(homes, max_size=10),
)
def test_every_event_and_status_goes_to_its_homes_shard_exactly_once(
    shards: int, event_homes: list[str | None], status_homes: list[str | None]
) -> None:
    result = BatchResult(
        stored=[_event(h, i) for i, h in enumerate(event_homes)],
        statuses=[
            StatusChange(f"dev-{i}", Kind.DOOR, h, "offline", T0)
            for i, h in enumerate(status_homes)
        ],
    )
    session = RecordingSession()
    FeedHook(shards)(session, result)  # type: ignore[arg-type]
    assert len({r["shard"] for r in session.rows}) == len(session.rows)  # one row per shard
    seen_events: dict[str, int] = {}
    seen_status: list[str] = []
    for row in session.rows:
        items = json.loads(row["items"])
        for eid, _kind in items["e"]:
            seen_events[eid] = row["shard"]
        for device_id, _kind, home, _state, _at in items["s"]:
            assert shard_of(home, shards) == row["shard"]
            seen_status.append(device_id)
    expected = {
        ev.envelope.id: shard_of(ev.home_id, shards)
        for ev in result.stored
        if ev.home_id is not None
    }
    assert seen_events == expected
    assert sorted(seen_status) == sorted(
        s.device_id for s in result.statuses if s.home_id is not None
    )


def test_shard_of_is_pinned_because_changing_it_would_move_every_home() -> None:
    # crc32, not Python's per-process salted hash(): every hub and every release must put a
    # home in the same shard, or two hubs would run rules for it.
    assert shard_of("home-0001", 16) == 4
    assert shard_of("home-0002", 16) == 14
