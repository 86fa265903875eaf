"""Each profile's daily rhythm stays within its bounds, whatever the seed."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.homes import build_home
from simulators.life import hhmm_minutes, local_ms
from simulators.profiles import PROFILE_CYCLE, PROFILES
from simulators.stream import FaultConfig, HomeSim

AMS = ZoneInfo("Europe/Amsterdam")

# Weeks with and without a DST change: rhythms are local, so they must not shift an hour.
STARTS = [date(2026, 3, 26), date(2026, 6, 8), date(2026, 10, 22), date(2026, 12, 28)]


def _local_minutes(ms: int, day: date) -> float:
    """Wall-clock minutes after midnight of `day` (past midnight counts on: 00:30 = 1470).

    Wall clock, not elapsed time: on a 23- or 25-hour day 08:00 is still 480.
    """
    t = datetime.fromtimestamp(ms / 1000, AMS)
    return (t.date() - day).days * 1440 + t.hour * 60 + t.minute + t.second / 60


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    profile_idx=st.integers(0, len(PROFILE_CYCLE) - 1),
    start=st.sampled_from(STARTS),
)
def test_daily_rhythm_stays_within_the_profile_bounds(
    seed: int, profile_idx: int, start: date
) -> None:
    home = build_home(profile_idx + 1, seed)
    assert home.profile is PROFILES[PROFILE_CYCLE[profile_idx]]
    p = home.profile
    sim = HomeSim(home, seed=seed, start=start, days=7, faults=FaultConfig(), failure_per_day=0)
    events = [m.body["event"] for _, _, _, m in sim.run() if "event" in m.body]
    by_ts = sorted(events, key=lambda e: e["ts"])
    wake, deadline = hhmm_minutes(home.wake_up), hhmm_minutes(home.wake_deadline)
    vacant = [
        e
        for e in by_ts
        if e["type"] == "occupancy" and e["data"] == {"place": "bed", "state": "vacant"}
    ]
    vacant_ms = {int(datetime.fromisoformat(e["ts"]).timestamp() * 1000) for e in vacant}
    for day in sim.life.log:
        if day.fall:
            continue  # a fall rewrites the day; its bounds are tested with the truth
        rise = _local_minutes(day.rise_ms, day.day) if day.rise_ms is not None else None
        assert rise is not None
        if day.not_up:
            assert deadline + 45 <= rise <= deadline + 240
        elif day.sleep_in:
            assert wake + 60 <= rise < deadline
        elif home.early_walker:
            assert 6 * 60 + 12 <= rise <= 6 * 60 + 27
        else:
            assert wake - 2.5 * p.wake_sd_min - 1 <= rise <= deadline - 10 + 1
        # The bed sensor saw the resident get up at that moment.
        assert day.rise_ms in vacant_ms
        bed = _local_minutes(day.bed_ms, day.day)
        late = max(home.bed_min + 20 + 2.5 * p.bed_sd_min, hhmm_minutes(home.night_window[0]) + 15)
        assert home.bed_min - 2.5 * p.bed_sd_min - 1 <= bed <= late + 120
        if not day.not_eating:
            assert day.meals >= 1
    # Activity per day is plausible: the PIRs see a living person, not a flood or nothing.
    motions = Counter(
        datetime.fromisoformat(e["ts"]).astimezone(AMS).date()
        for e in by_ts
        if e["type"] == "motion"
    )
    for n in motions.values():
        assert 15 <= n <= 800


def test_weekends_start_later_than_weekdays_for_a_resident_without_a_morning_walk() -> None:
    rises: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(6):
        home = build_home(4, seed)  # poor adherence: a 50-minute weekend shift
        sim = HomeSim(home, seed=seed, start=date(2026, 1, 5), days=28, faults=FaultConfig())
        for _ in sim.run():
            pass
        for day in sim.life.log:
            if day.rise_ms is None or day.not_up or day.sleep_in:
                continue
            rises[day.day.isoweekday() >= 6].append(_local_minutes(day.rise_ms, day.day))
    weekday = sum(rises[False]) / len(rises[False])
    weekend = sum(rises[True]) / len(rises[True])
    assert weekend - weekday > 25


def test_clock_times_are_local_across_the_dst_change() -> None:
    """07:00 local is 06:00 UTC in winter and 05:00 UTC in summer."""
    seven = 7 * 60
    hour = 3_600_000
    assert local_ms(date(2026, 3, 28), seven) - local_ms(date(2026, 3, 27), seven) == 24 * hour
    assert local_ms(date(2026, 3, 29), seven) - local_ms(date(2026, 3, 28), seven) == 23 * hour
    assert local_ms(date(2026, 10, 25), seven) - local_ms(date(2026, 10, 24), seven) == 25 * hour
    winter = datetime.fromtimestamp(local_ms(date(2026, 1, 5), seven) / 1000, ZoneInfo("UTC"))
    summer = datetime.fromtimestamp(local_ms(date(2026, 7, 6), seven) / 1000, ZoneInfo("UTC"))
    assert (winter.hour, summer.hour) == (6, 5)
