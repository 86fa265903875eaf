"""Score alerts against simulator ground truth: precision, recall, latency, alert volume."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.rules.baseline import quantile

SCORED = ("fall", "night_exit", "not_up", "not_eating", "missed_dose", "device_offline")
# An alert counts for an incident when raised from a little before its start (clock skew,
# a dose moment's start) until a while after its end (the last sign of it).
PRE_SLACK = timedelta(minutes=15)
POST_SLACK = timedelta(minutes=30)
OPEN_END = timedelta(hours=6)
# The alert lifecycle (issue 4): while an alert is open, a repeat of the same (client, rule)
# updates it (count, last seen) instead of calling someone out again. Replay has no care
# team, so scoring assumes the team resolves an alert this long after its last update; a
# decision of the same (client, rule) within it is a repeat, not a new call-out. The same
# model counts the smart and the naive rule set.
HOLD = timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class Incident:
    """One ground-truth incident (or benign look-alike)."""

    home_id: str
    client_id: str
    type: str
    start: datetime
    end: datetime
    lookalike: str | None = None


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    """The fields of an alert that scoring needs."""

    home_id: str
    client_id: str
    rule: str
    raised_at: datetime


def _ts(value: Any) -> datetime:
    ts = datetime.fromisoformat(str(value))
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {value!r}")
    return ts


def read_truth(lines: Iterable[str]) -> list[Incident]:
    """Ground truth from JSONL."""
    out: list[Incident] = []
    for line in lines:
        if not line.strip():
            continue
        o = json.loads(line)
        start = _ts(o["start"])
        end = _ts(o["end"]) if o.get("end") else start + OPEN_END
        out.append(
            Incident(
                str(o["home_id"]),
                str(o["client_id"]),
                str(o["type"]),
                start,
                max(end, start),
                o.get("lookalike"),
            )
        )
    return out


def read_alerts(lines: Iterable[str]) -> list[ScoredAlert]:
    """Alerts from JSONL (replay output)."""
    out: list[ScoredAlert] = []
    for line in lines:
        if not line.strip():
            continue
        o = json.loads(line)
        out.append(
            ScoredAlert(str(o["home_id"]), str(o["client_id"]), str(o["rule"]), _ts(o["raised_at"]))
        )
    return out


@dataclass
class TypeScore:
    """Scores of one incident type."""

    incidents: int = 0
    detected: int = 0
    alerts: int = 0  # call-outs: alerts the lifecycle opens
    true_alerts: int = 0
    decisions: int = 0  # every raise, repeats into an open alert included
    latencies_s: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """Share of incidents with at least one alert (1.0 when there were none)."""
        return self.detected / self.incidents if self.incidents else math.nan

    @property
    def precision(self) -> float:
        """Share of call-outs (opened alerts) that point at a real incident."""
        return self.true_alerts / self.alerts if self.alerts else math.nan

    def latency_min(self, q: float) -> float:
        """Detection latency quantile in minutes."""
        return quantile(self.latencies_s, q) / 60 if self.latencies_s else math.nan


@dataclass
class Score:
    """Scores of one alert set."""

    by_type: dict[str, TypeScore]
    unscored: dict[str, int]
    on_lookalikes: dict[str, int]
    alerts_total: int
    home_days: float

    @property
    def scored_alerts(self) -> int:
        """Alerts of the scored (incident) types."""
        return sum(t.alerts for t in self.by_type.values())

    @property
    def precision(self) -> float:
        """Precision over all scored alerts."""
        n = self.scored_alerts
        return sum(t.true_alerts for t in self.by_type.values()) / n if n else math.nan

    def per_home_day(self, n: int) -> float:
        """Alerts per home per day."""
        return n / self.home_days if self.home_days else math.nan


def score(
    truth: list[Incident],
    alerts: list[ScoredAlert],
    *,
    homes: int,
    days: float,
    hold: timedelta = HOLD,
) -> Score:
    """Match alerts to incidents of the same type and client; see the module constants.

    Decisions are first grouped into lifecycle alerts per (client, rule): a decision
    within `hold` of the previous one of its alert is a repeat. Precision counts alerts
    (call-outs) that match an incident with any of their decisions; recall and latency
    use every decision, since a repeat updates the open alert the team is looking at.
    """
    incidents: dict[tuple[str, str], list[Incident]] = defaultdict(list)
    lookalikes: dict[str, list[Incident]] = defaultdict(list)
    for inc in truth:
        if inc.type == "benign":
            lookalikes[inc.client_id].append(inc)
        else:
            incidents[(inc.client_id, inc.type)].append(inc)
    by_type = {t: TypeScore() for t in SCORED}
    for (_, typ), incs in incidents.items():
        by_type.setdefault(typ, TypeScore()).incidents += len(incs)
    first_alert: dict[Incident, datetime] = {}
    unscored: dict[str, int] = defaultdict(int)
    on_look: dict[str, int] = defaultdict(int)
    # (client, rule) -> [last update, matched an incident, lookalike of its first decision]
    open_: dict[tuple[str, str], list[Any]] = {}
    closed: list[tuple[str, bool, str | None]] = []
    for a in sorted(alerts, key=lambda x: (x.raised_at, x.client_id, x.rule)):
        key = (a.client_id, a.rule)
        cur = open_.get(key)
        if cur is not None and a.raised_at - cur[0] <= hold:
            cur[0] = max(cur[0], a.raised_at)
        else:
            if cur is not None:
                closed.append((a.rule, cur[1], cur[2]))
            look = None
            for lk in lookalikes.get(a.client_id, []):
                if lk.start - PRE_SLACK <= a.raised_at <= lk.end + POST_SLACK:
                    look = str(lk.lookalike)
                    break
            cur = open_[key] = [a.raised_at, False, look]
        if a.rule not in by_type:
            continue
        by_type[a.rule].decisions += 1
        for inc in incidents.get(key, []):
            if inc.start - PRE_SLACK <= a.raised_at <= inc.end + POST_SLACK:
                cur[1] = True
                if inc not in first_alert:
                    first_alert[inc] = a.raised_at
    closed.extend((rule, hit, look) for (_, rule), (_, hit, look) in open_.items())
    for rule, hit, look in closed:
        if rule not in by_type:
            unscored[rule] += 1
            continue
        by_type[rule].alerts += 1
        if hit:
            by_type[rule].true_alerts += 1
        elif look is not None:
            on_look[look] += 1
    for inc, at in first_alert.items():
        ts = by_type[inc.type]
        ts.detected += 1
        ts.latencies_s.append(max(0.0, (at - inc.start).total_seconds()))
    return Score(by_type, dict(unscored), dict(on_look), len(closed), homes * days)


def _f(x: float, fmt: str = "{:.3f}") -> str:
    return "-" if math.isnan(x) else fmt.format(x)


def format_report(smart: Score, naive: Score | None) -> str:
    """The evaluation table as text."""
    lines = [
        f"{'type':<15}{'incid':>6}{'found':>6}{'alerts':>7}{'decis':>6}{'/h/d':>7}{'prec':>7}"
        f"{'recall':>7}{'lat50m':>8}{'lat95m':>8}"
        + (f" | {'naive':>6}{'decis':>6}{'/h/d':>7}{'prec':>7}{'recall':>7}" if naive else "")
    ]
    for typ in sorted(smart.by_type):
        s = smart.by_type[typ]
        row = (
            f"{typ:<15}{s.incidents:>6}{s.detected:>6}{s.alerts:>7}{s.decisions:>6}"
            f"{_f(smart.per_home_day(s.alerts)):>7}{_f(s.precision):>7}"
            f"{_f(s.recall):>7}{_f(s.latency_min(0.5), '{:.1f}'):>8}"
            f"{_f(s.latency_min(0.95), '{:.1f}'):>8}"
        )
        if naive:
            n = naive.by_type.get(typ, TypeScore())
            row += (
                f" | {n.alerts:>6}{n.decisions:>6}{_f(naive.per_home_day(n.alerts)):>7}"
                f"{_f(n.precision):>7}{_f(n.recall):>7}"
            )
        lines.append(row)
    lines.append(
        f"overall precision {_f(smart.precision)}; scored alerts {smart.scored_alerts} "
        f"({_f(smart.per_home_day(smart.scored_alerts), '{:.3f}')} per home per day); "
        f"all alerts {smart.alerts_total} "
        f"({_f(smart.per_home_day(smart.alerts_total), '{:.3f}')} per home per day)"
    )
    if smart.unscored:
        lines.append(f"not scored (no truth type): {dict(sorted(smart.unscored.items()))}")
    if smart.on_lookalikes:
        looks = dict(sorted(smart.on_lookalikes.items()))
        lines.append(f"false alarms on benign look-alikes: {looks}")
    if naive:
        lines.append(
            f"naive: precision {_f(naive.precision)}; scored alerts {naive.scored_alerts} "
            f"({_f(naive.per_home_day(naive.scored_alerts), '{:.3f}')} per home per day); "
            f"all alerts {naive.alerts_total} "
            f"({_f(naive.per_home_day(naive.alerts_total), '{:.3f}')} per home per day)"
        )
        if naive.scored_alerts:
            red = 1 - smart.scored_alerts / naive.scored_alerts
            lines.append(f"reduction in scored alerts vs naive: {red:.1%}")
        if naive.alerts_total:
            red_all = 1 - smart.alerts_total / naive.alerts_total
            lines.append(f"reduction in all alerts vs naive: {red_all:.1%}")
    return "\n".join(lines)


def span(
    meta: dict[str, Any] | None, truth: list[Incident], alerts: list[ScoredAlert]
) -> tuple[int, float]:
    """(homes, days) of the scored run: from replay's meta file, else from the data."""
    if meta and meta.get("homes") and meta.get("start") and meta.get("end"):
        days = (_ts(meta["end"]) - _ts(meta["start"])).total_seconds() / 86400
        return len(meta["homes"]), max(days, 1 / 24)
    homes = {i.home_id for i in truth} | {a.home_id for a in alerts}
    times = [i.start for i in truth] + [a.raised_at for a in alerts]
    days = (max(times) - min(times)).total_seconds() / 86400 if times else 0.0
    return len(homes), max(days, 1 / 24)


def load_meta(path: Path) -> dict[str, Any] | None:
    """Replay's meta file next to an alerts file, if present."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
