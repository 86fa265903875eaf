"""Prometheus metrics: ingest counters and lag, queue depth, open alerts, rule evaluation time,
and with several hubs the shard ownership of this hub.

Counters already live in `IngestStats`; they are read at scrape time by a custom collector
instead of being mirrored into prometheus-client objects, so the ingest worker pays nothing
per event. The open-alert gauge queries the database at scrape time through a function the
alerts package provides (`OpenAlertCounter`). Only the rule-evaluation histogram is a live
prometheus-client object, because the rules code observes it directly.

Every hub process serves its own `/metrics`; with N hubs Prometheus scrapes each one and
sums (label `instance`). See docs/adr/0009-observability.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from hub.ingest.service import IngestService, IngestStats

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"

# Rule evaluation is microseconds per event and milliseconds per batch; the top buckets
# catch a pathological client state (thousands of timers) before it stalls the ingest.
RULE_EVALUATION_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
    2.5,
)

# Process-wide, not registered in the global registry: each registry built by
# `build_registry` registers it, so several apps in one process (tests) never collide.
RULE_EVALUATION_SECONDS = Histogram(
    "carehub_rule_evaluation_seconds",
    "Wall time of one rule-engine evaluation, by stage (label values are rule kinds or "
    "stages such as 'event' and 'timers', never client or device ids)",
    ["stage"],
    buckets=RULE_EVALUATION_BUCKETS,
    registry=None,
)


def observe_rule_evaluation(stage: str, seconds: float) -> None:
    """Record one rule evaluation that took `seconds` (stage: a small fixed set of names)."""
    RULE_EVALUATION_SECONDS.labels(stage=stage).observe(max(0.0, seconds))


@contextmanager
def rule_evaluation_timer(stage: str) -> Iterator[None]:
    """Time the enclosed rule evaluation into carehub_rule_evaluation_seconds{stage}."""
    start = time.perf_counter()
    try:
        yield
    finally:
        observe_rule_evaluation(stage, time.perf_counter() - start)


# --- ingest -------------------------------------------------------------------------------


class IngestProbe:
    """What the metrics read from a running ingest: its counters and its in-process queue."""

    def __init__(self, service: IngestService) -> None:
        self._service = service

    @property
    def stats(self) -> IngestStats:
        """The service's live counters."""
        return self._service.stats

    def queue_depth(self) -> int:
        """Messages received from the broker and not yet taken into a batch."""
        return self._service.queue_depth()

    def oldest_queued_at(self) -> datetime | None:
        """When the oldest message still waiting in the queue was received; None if empty."""
        return self._service.oldest_queued_at()


@dataclass(frozen=True)
class IngestSnapshot:
    """The ingest figures of one scrape."""

    received: int
    stored: int
    duplicates: int
    dead_letters: int
    batches: int
    commit_failures: int
    connected: bool
    last_commit_at: float | None  # time.monotonic() of the last committed batch
    queue_depth: int
    oldest_queued_at: datetime | None


class IngestSource(Protocol):
    """Anything `install_metrics` can read ingest figures from (an IngestProbe, a test double)."""

    @property
    def stats(self) -> IngestStats:
        """Live counters."""
        ...

    def queue_depth(self) -> int:
        """Messages waiting in the queue."""
        ...

    def oldest_queued_at(self) -> datetime | None:
        """Receipt time of the oldest waiting message."""
        ...


IngestGetter = Callable[[], IngestSource | None]


def snapshot(source: IngestSource) -> IngestSnapshot:
    """Read the counters under the stats lock, then the queue (one consistent-enough view)."""
    stats = source.stats
    with stats.lock:
        counters = (
            stats.received,
            stats.stored,
            stats.duplicates,
            stats.dead_letters,
            stats.batches,
            stats.commit_failures,
            stats.connected,
            stats.last_commit_at,
        )
    return IngestSnapshot(
        *counters, queue_depth=source.queue_depth(), oldest_queued_at=source.oldest_queued_at()
    )


# --- open alerts ----------------------------------------------------------------------------

OpenAlertCounter = Callable[[Session], Mapping[str, int]]
"""Counts open (not yet resolved) alerts by severity, e.g. {"high": 2, "low": 7}.

Provided by the alerts package; it only reads (no commit) and should be one indexed
GROUP BY query, because Prometheus calls it on every scrape (typically every 15 s).
"""


# --- shards (several hubs) -------------------------------------------------------------------


@dataclass(frozen=True)
class ShardSnapshot:
    """This hub's part in the shard leases (docs/adr/0011-several-hubs.md)."""

    configured: int
    owned: tuple[int, ...]
    live_hubs: int
    acquired: int
    lost: int
    released: int
    failures: int
    rules_lag_s: float | None  # age of the newest feed row when the rules processed it


ShardGetter = Callable[[], ShardSnapshot | None]
_shard_source: list[ShardGetter] = []


def set_shard_source(getter: ShardGetter | None) -> None:
    """Register (or with None, forget) the process's shard coordinator for /metrics."""
    _shard_source.clear()
    if getter is not None:
        _shard_source.append(getter)


def _current_shards() -> ShardSnapshot | None:
    return _shard_source[0]() if _shard_source else None


# --- collector --------------------------------------------------------------------------------


class HubCollector(Collector):
    """Reads the ingest and the database at scrape time."""

    def __init__(
        self,
        ingest_getter: IngestGetter,
        sessions: sessionmaker[Session] | None,
        *,
        open_alerts: OpenAlertCounter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        shards: ShardGetter = _current_shards,
    ) -> None:
        self._ingest_getter = ingest_getter
        self._shards = shards
        self._sessions = sessions
        self._open_alerts = open_alerts
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()  # scrapes may overlap; the DB query need not

    def collect(self) -> Iterable[Metric]:
        """Yield the metric families of one scrape."""
        with self._lock:
            yield from self._ingest_metrics()
            yield from self._alert_metrics()
            yield from self._shard_metrics()

    def _ingest_metrics(self) -> Iterator[Metric]:
        source = self._ingest_getter()
        connected = GaugeMetricFamily(
            "carehub_ingest_connected", "1 while the ingest is connected and subscribed"
        )
        if source is None:
            connected.add_metric([], 0)
            yield connected
            return
        snap = snapshot(source)
        connected.add_metric([], 1 if snap.connected else 0)
        yield connected
        for name, doc, value in (
            (
                "carehub_ingest_messages_received",
                "MQTT messages taken from the broker and committed in a batch",
                snap.received,
            ),
            (
                "carehub_ingest_events_stored",
                "Device events stored for the first time",
                snap.stored,
            ),
            (
                "carehub_ingest_duplicates",
                "Redelivered or repeated events absorbed by the idempotent store",
                snap.duplicates,
            ),
            (
                "carehub_ingest_dead_letters",
                "Messages refused and kept in dead_letters with a reason",
                snap.dead_letters,
            ),
            ("carehub_ingest_batches", "Committed ingest batches", snap.batches),
            (
                "carehub_ingest_commit_failures",
                "Batch commits that failed and were retried (database unavailable)",
                snap.commit_failures,
            ),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter
        depth = GaugeMetricFamily(
            "carehub_ingest_queue_depth",
            "Messages received and waiting for the store (bounded: CAREHUB_INGEST_QUEUE_MAX)",
        )
        depth.add_metric([], snap.queue_depth)
        yield depth
        lag = GaugeMetricFamily(
            "carehub_ingest_lag_seconds",
            "Age of the oldest message waiting in the ingest queue (0 when the queue is empty)",
        )
        lag.add_metric([], self._lag(snap))
        yield lag
        if snap.last_commit_at is not None:
            since = GaugeMetricFamily(
                "carehub_ingest_seconds_since_last_commit",
                "Seconds since the last committed batch (grows when idle or stalled)",
            )
            since.add_metric([], max(0.0, self._monotonic() - snap.last_commit_at))
            yield since

    def _lag(self, snap: IngestSnapshot) -> float:
        if snap.oldest_queued_at is None:
            return 0.0
        return max(0.0, (self._now() - snap.oldest_queued_at).total_seconds())

    def _shard_metrics(self) -> Iterator[Metric]:
        snap = self._shards()
        if snap is None:
            return  # single-hub mode: the rules run inside the ingest
        for name, doc, value in (
            ("carehub_shards_configured", "Shards of homes (CAREHUB_SHARDS)", snap.configured),
            ("carehub_shards_owned", "Shards whose rules this hub runs now", len(snap.owned)),
            (
                "carehub_shard_live_hubs",
                "Hubs with a live heartbeat, as this hub saw",
                snap.live_hubs,
            ),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
        owned = GaugeMetricFamily(
            "carehub_shard_owned", "1 for each shard this hub owns", labels=["shard"]
        )
        for shard in snap.owned:
            owned.add_metric([str(shard)], 1)
        yield owned
        for name, doc, value in (
            (
                "carehub_shard_acquisitions",
                "Shards taken over (state rebuilt from the log)",
                snap.acquired,
            ),
            ("carehub_shard_losses", "Shards found taken over or expired at renewal", snap.lost),
            ("carehub_shard_releases", "Shards handed over for the fair share", snap.released),
            (
                "carehub_shard_failures",
                "Failed shard steps (database errors, rebuilds)",
                snap.failures,
            ),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter
        if snap.rules_lag_s is not None:
            lag = GaugeMetricFamily(
                "carehub_shard_rules_lag_seconds",
                "Age of the newest stored events when this hub's shard rules processed them",
            )
            lag.add_metric([], snap.rules_lag_s)
            yield lag

    def _alert_metrics(self) -> Iterator[Metric]:
        if self._open_alerts is None or self._sessions is None:
            return
        gauge = GaugeMetricFamily(
            "carehub_open_alerts", "Alerts not yet resolved, by severity", labels=["severity"]
        )
        up = GaugeMetricFamily(
            "carehub_open_alerts_query_ok", "1 when the open-alert query of this scrape succeeded"
        )
        try:
            with self._sessions() as session:
                counts = dict(self._open_alerts(session))
        except Exception:
            # A scrape must not fail because the database is away: report that instead.
            log.warning("open-alert count failed during a metrics scrape", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        for severity, n in sorted(counts.items()):
            gauge.add_metric([str(severity)], n)
        up.add_metric([], 1)
        yield gauge
        yield up


def build_registry(
    ingest_getter: IngestGetter,
    sessions: sessionmaker[Session] | None,
    *,
    open_alerts: OpenAlertCounter | None = None,
) -> CollectorRegistry:
    """A registry with the hub collector and the rule-evaluation histogram."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HubCollector(ingest_getter, sessions, open_alerts=open_alerts))
    registry.register(RULE_EVALUATION_SECONDS)
    return registry


def install_metrics(
    app: FastAPI,
    ingest_getter: IngestGetter,
    sessions: sessionmaker[Session] | None,
    *,
    open_alerts: OpenAlertCounter | None = None,
) -> CollectorRegistry:
    """Serve GET /metrics (Prometheus text format) on `app`; returns the registry."""
    registry = build_registry(ingest_getter, sessions, open_alerts=open_alerts)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics() -> Response:
        """Prometheus scrape endpoint."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics_registry = registry
    return registry
