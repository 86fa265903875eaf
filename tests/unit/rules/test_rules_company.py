"""A second person in the home (see Engine._company): property tests against false evidence."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_helpers import CLIENT, ROOM_DEVICE, ams, door, engine, keepalive, motion, occ, rules

from hub.rules.model import EngineEvent, Rule

SEC = timedelta(seconds=1)
MIN = timedelta(minutes=1)
ELSEWHERE = ("kitchen", "toilet", "bathroom", "bedroom", "hallway")

walks = st.lists(
    st.tuples(
        st.floats(6, 90),  # minutes in the chair
        st.sampled_from(ELSEWHERE),  # where the client goes
        st.floats(0.5, 12),  # minutes there
        st.booleans(),  # the chair's 'vacant' is lost
    ),
    min_size=1,
    max_size=8,
)
skews = st.fixed_dictionaries(
    {dev: st.integers(-90, 90) for dev in (*ROOM_DEVICE.values(),)}  # seconds, per device
)


def _solo_day(
    t0: datetime, plan: list[tuple[float, str, float, bool]], lead_s: int
) -> list[tuple[datetime, str, str, str | None]]:
    """(true time, what, room/place, state) of one client alone, chair and walks."""
    out: list[tuple[datetime, str, str, str | None]] = [
        (t0, "motion", "living_room", None),
        (t0 + 5 * SEC, "occ", "chair", "occupied"),
    ]
    cursor = t0 + 5 * SEC
    for chair_min, room, room_min, lost in plan:
        rise = cursor + timedelta(minutes=chair_min)
        out.append((cursor + (rise - cursor) / 2, "motion", "living_room", None))
        if room != "hallway":
            out.append((rise - lead_s * SEC, "motion", "hallway", None))  # on the way out
        if not lost:
            out.append((rise, "occ", "chair", "vacant"))
        back = rise + timedelta(minutes=room_min)
        t = rise + SEC
        while t < back:
            out.append((t, "motion", room, None))
            t += MIN
        if room != "hallway":
            out.append((back - 3 * SEC, "motion", "hallway", None))
        out.append((back + SEC, "motion", "living_room", None))
        out.append((back + 5 * SEC, "occ", "chair", "occupied"))
        cursor = back + 5 * SEC
    return out


@settings(max_examples=150, deadline=None)
@given(plan=walks, skew=skews, lead_s=st.integers(0, 10), data=st.data())
def test_a_client_alone_is_never_taken_for_two_people(
    plan: list[tuple[float, str, float, bool]],
    skew: dict[str, int],
    lead_s: int,
    data: st.DataObject,
) -> None:
    """Device clocks up to 90 s apart, messages reordered by up to 30 s, 'vacant' reports
    lost: the client's own walks from the chair never make a companion, so the door and
    silence after it is still the client gone out."""
    t0 = ams(2026, 1, 14, 9, 0)
    eng = engine(register_at=t0 - timedelta(hours=1))
    items: list[tuple[datetime, int, EngineEvent]] = []
    for n, (true, what, role, state) in enumerate(_solo_day(t0, plan, lead_s)):
        stamped = true + skew[ROOM_DEVICE[role]] * SEC
        item = motion(stamped, role) if what == "motion" else occ(stamped, role, str(state))
        delay = data.draw(st.integers(0, 30), label="publish delay s")
        items.append((true + delay * SEC, n, item))
    end = max(t for t, _, _ in items)
    out = []
    for _, _, item in sorted(items, key=lambda x: (x[0], x[1])):
        out += eng.process(item)
    client = eng.client(CLIENT)
    assert client is not None
    assert client.company_at is None
    # Off out of the door: silence after it is the client gone out, no fall.
    leave = end + 3 * MIN
    tail = [
        motion(leave - MIN, "hallway"),
        door(leave, "front_door", "open"),
        door(leave + 6 * SEC, "front_door", "closed"),
        *keepalive(leave, leave + timedelta(hours=2)),
    ]
    for item in sorted(tail, key=lambda x: x.ts):
        out += eng.process(item)
    out += eng.advance(leave + timedelta(hours=2))
    assert Rule.FALL.value not in rules([d for d in out if d.raised_at >= leave])
