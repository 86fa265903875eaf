"""Per-client baseline rhythm: a rolling profile learned from the client's own events.

See docs/adr/0005-baseline-rhythm.md. Every statistic is a robust quantile over the
last `days` local days, so one odd day (or an incident) barely moves it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of a non-empty list (deterministic, no numpy)."""
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class DailySeries:
    """One value per local day, for the last `days` days."""

    days: int
    values: deque[tuple[date, float]] = field(default_factory=deque)

    def add(self, day: date, value: float) -> None:
        """Record (or overwrite) the value of `day` and drop days outside the window."""
        if self.values and self.values[-1][0] == day:
            self.values[-1] = (day, value)
        else:
            self.values.append((day, value))
        self._prune(day)

    def _prune(self, today: date) -> None:
        cutoff = today - timedelta(days=self.days)
        while self.values and self.values[0][0] <= cutoff:
            self.values.popleft()

    def count(self) -> int:
        """Days with data."""
        return len(self.values)

    def list(self) -> list[float]:
        """The values, oldest first."""
        return [v for _, v in self.values]


@dataclass
class SampleSeries:
    """Many samples per day (e.g. still spells), for the last `days` days."""

    days: int
    samples: deque[tuple[date, float]] = field(default_factory=deque)
    max_samples: int = 2000
    _per_day: dict[date, int] = field(default_factory=dict)
    _max: float | None = None

    def add(self, day: date, value: float) -> None:
        """Record a sample and drop old ones."""
        self.samples.append((day, value))
        self._per_day[day] = self._per_day.get(day, 0) + 1
        if self._max is not None:
            self._max = max(self._max, value)
        cutoff = day - timedelta(days=self.days)
        while self.samples and (
            self.samples[0][0] <= cutoff or len(self.samples) > self.max_samples
        ):
            old_day, _ = self.samples.popleft()
            self._per_day[old_day] -= 1
            if not self._per_day[old_day]:
                del self._per_day[old_day]
            self._max = None

    def day_count(self) -> int:
        """Distinct days with samples."""
        return len(self._per_day)

    def max(self) -> float:
        """Largest sample (the series must not be empty)."""
        if self._max is None:
            self._max = max(v for _, v in self.samples)
        return self._max

    def list(self) -> list[float]:
        """The sample values."""
        return [v for _, v in self.samples]


@dataclass
class Baseline:
    """What is normal for one client: wake-up, still spells, fridge use, night activity, exits."""

    days: int = 14
    min_days: int = 5
    wake_min: DailySeries = field(init=False)
    fridge: DailySeries = field(init=False)
    night_activity: DailySeries = field(init=False)
    still_s: dict[str, SampleSeries] = field(init=False)
    exits: SampleSeries = field(init=False)

    def __post_init__(self) -> None:
        self.wake_min = DailySeries(self.days)
        self.fridge = DailySeries(self.days)
        self.night_activity = DailySeries(self.days)
        self.still_s = {}
        self.exits = SampleSeries(self.days)

    def wake_deadline(self, *, plan_deadline_min: float) -> float:
        """Minutes after local midnight by which the client is normally up.

        Learned: the median wake time plus a spread-based margin (4 robust SDs and past
        the latest wake-up seen, at least 45 min). The care plan's deadline is the floor
        (a nurse's explicit rule; sleeping in before it is normal) and the learned value
        may move it later by at most 30 min, for clients whose own rhythm runs late.
        """
        if self.wake_min.count() < self.min_days:
            return plan_deadline_min
        v = self.wake_min.list()
        med = quantile(v, 0.5)
        mad = quantile([abs(x - med) for x in v], 0.5) * 1.4826
        learned = med + max(45.0, 4.0 * mad, max(v) - med + 15.0)
        return min(max(learned, plan_deadline_min), plan_deadline_min + 30.0)

    def add_still(self, room: str, day: date, seconds: float) -> None:
        """Record a still spell (no sign of life) that ended normally in `room`."""
        series = self.still_s.get(room)
        if series is None:
            series = self.still_s[room] = SampleSeries(self.days)
        series.add(day, seconds)

    def still_limit_s(self, room: str, *, default_s: float, floor_s: float) -> float:
        """Longest still spell before a fall alert: the client's longest normal one in the
        room (x1.3 + 5 min), between `floor_s` and the care plan's `default_s`."""
        series = self.still_s.get(room)
        if series is None or series.day_count() < self.min_days or len(series.samples) < 10:
            return default_s
        learned = series.max() * 1.3 + 300.0
        return min(max(learned, floor_s), default_s)

    def fridge_low(self, *, default: int) -> int:
        """Fridge openings at or below which a day counts as 'not eating'."""
        if self.fridge.count() < self.min_days:
            return default
        # A visitor may open the fridge once on a day the client ate nothing; clients who
        # normally open it at least three times a day keep that tolerance.
        return 1 if min(self.fridge.list()) >= 3 else 0

    def night_high(self, *, default: float) -> float:
        """Night activity count above which a night is restless."""
        if self.night_activity.count() < self.min_days:
            return default
        v = self.night_activity.list()
        return max(quantile(v, 0.95) * 1.5, quantile(v, 0.5) + 10.0)

    def habitual_exit(self, minute: float, *, days: int, band_min: float) -> bool:
        """True when the client left at about this time of night on `days` recent days."""
        seen = set()
        for d, m in self.exits.samples:
            diff = abs(m - minute) % 1440.0
            if min(diff, 1440.0 - diff) <= band_min:
                seen.add(d)
        return len(seen) >= days
