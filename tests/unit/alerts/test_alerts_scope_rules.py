"""Which alerts a user sees (pure): her clients always, the night team's only at night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.alerts.scope import EVERYTHING, AlertScope
from hub.alerts.service import Routing
from hub.rules.localtime import in_window, parse_hhmm

NIGHT_NURSE = AlertScope(client_ids=frozenset({"c1"}), night_team_ids=frozenset({"night"}))
instants = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(deadline=None)
@given(at=instants)
def test_night_team_alerts_are_visible_exactly_in_the_night_window(at: datetime) -> None:
    night = in_window(at, parse_hhmm("23:00"), parse_hhmm("07:00"))
    other_client = {"client_id": "c9", "team_id": "night"}
    assert NIGHT_NURSE.allows(other_client, at) is night
    assert NIGHT_NURSE.allows({"client_id": "c1", "team_id": "day-a"}, at)
    assert not NIGHT_NURSE.allows({"client_id": "c9", "team_id": "day-a"}, at)
    assert EVERYTHING.allows(other_client, at)


def test_across_the_spring_dst_change_the_night_ends_at_seven_local() -> None:
    # 29 March 2026: clocks go 02:00 -> 03:00; 07:00 CEST is 05:00 UTC.
    end = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    alert = {"client_id": "c9", "team_id": "night"}
    assert NIGHT_NURSE.allows(alert, end - timedelta(seconds=1))
    assert not NIGHT_NURSE.allows(alert, end)


def test_an_empty_scope_sees_nothing_and_the_configured_routing_counts() -> None:
    nobody = AlertScope()
    assert not nobody.allows({"client_id": "c1", "team_id": None}, datetime.now(UTC))
    day_shift = AlertScope(
        night_team_ids=frozenset({"night"}), routing=Routing(night_start="09:00", night_end="17:00")
    )
    noon = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 CEST
    assert day_shift.allows({"client_id": "c9", "team_id": "night"}, noon)
