"""GET /metrics over a real database: ingest counters, queue depth and lag, open alerts, rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.api.app import create_app
from hub.broker.dynsec import BrokerAddress
from hub.ingest.service import IngestConfig, IngestService, IngestStats
from hub.ingest.store import Inbound
from hub.metrics import (
    HubCollector,
    IngestProbe,
    IngestSource,
    install_metrics,
    observe_rule_evaluation,
    rule_evaluation_timer,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class FakeIngest:
    """A stand-in ingest: real IngestStats, a queue described by its depth and oldest item."""

    stats: IngestStats = field(default_factory=IngestStats)
    depth: int = 0
    oldest: datetime | None = None

    def queue_depth(self) -> int:
        return self.depth

    def oldest_queued_at(self) -> datetime | None:
        return self.oldest


def scrape(client: TestClient) -> Samples:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def make_alerts_table(sessions: sessionmaker[Session]) -> None:
    """A scratch table shaped like the alerts engineer's (severity, state)."""
    with sessions() as s:
        s.execute(
            text(
                "CREATE TABLE scratch_alerts (id INTEGER PRIMARY KEY, severity VARCHAR(16), "
                "state VARCHAR(16))"
            )
        )
        rows = [
            (1, "high", "open"),
            (2, "high", "acknowledged"),
            (3, "high", "resolved"),
            (4, "low", "open"),
            (5, "medium", "resolved"),
        ]
        for id_, sev, state in rows:
            s.execute(
                text("INSERT INTO scratch_alerts VALUES (:i, :s, :t)"),
                {"i": id_, "s": sev, "t": state},
            )
        s.commit()


def count_open_alerts(session: Session) -> Mapping[str, int]:
    """What the alerts package provides: open (not resolved) alerts by severity."""
    rows = session.execute(
        text(
            "SELECT severity, COUNT(*) FROM scratch_alerts WHERE state <> 'resolved' "
            "GROUP BY severity"
        )
    )
    return {str(sev): int(n) for sev, n in rows}


def test_metrics_report_ingest_counters_queue_and_open_alerts(
    sessions: sessionmaker[Session],
) -> None:
    make_alerts_table(sessions)
    ingest = FakeIngest()
    ingest.stats.received = 120
    ingest.stats.stored = 100
    ingest.stats.duplicates = 15
    ingest.stats.dead_letters = 5
    ingest.stats.batches = 4
    ingest.stats.commit_failures = 2
    ingest.stats.connected = True
    ingest.depth = 37
    ingest.oldest = datetime.now(UTC) - timedelta(seconds=30)
    app = create_app(sessions)
    install_metrics(app, lambda: ingest, sessions, open_alerts=count_open_alerts)
    client = TestClient(app)

    m = scrape(client)

    assert value(m, "carehub_ingest_connected") == 1
    assert value(m, "carehub_ingest_messages_received_total") == 120
    assert value(m, "carehub_ingest_events_stored_total") == 100
    assert value(m, "carehub_ingest_duplicates_total") == 15
    assert value(m, "carehub_ingest_dead_letters_total") == 5
    assert value(m, "carehub_ingest_batches_total") == 4
    assert value(m, "carehub_ingest_commit_failures_total") == 2
    assert value(m, "carehub_ingest_queue_depth") == 37
    assert 30 <= value(m, "carehub_ingest_lag_seconds") < 3600
    # No batch committed yet: no "since last commit" figure rather than a made-up one.
    assert not any(k[0] == "carehub_ingest_seconds_since_last_commit" for k in m)
    assert value(m, "carehub_open_alerts", severity="high") == 2
    assert value(m, "carehub_open_alerts", severity="low") == 1
    assert ("carehub_open_alerts", (("severity", "medium"),)) not in m
    assert value(m, "carehub_open_alerts_query_ok") == 1

    # Counters are read live at every scrape.
    ingest.stats.received += 10
    ingest.depth = 0
    ingest.oldest = None
    with sessions() as s:
        s.execute(text("UPDATE scratch_alerts SET state = 'resolved' WHERE id = 4"))
        s.commit()
    m = scrape(client)
    assert value(m, "carehub_ingest_messages_received_total") == 130
    assert value(m, "carehub_ingest_queue_depth") == 0
    assert value(m, "carehub_ingest_lag_seconds") == 0
    assert ("carehub_open_alerts", (("severity", "low"),)) not in m


def test_a_failing_alert_query_does_not_fail_the_scrape(sessions: sessionmaker[Session]) -> None:
    def broken(_session: Session) -> Mapping[str, int]:
        raise RuntimeError("database away")

    app = create_app(sessions)
    install_metrics(app, lambda: FakeIngest(), sessions, open_alerts=broken)
    m = scrape(TestClient(app))
    assert value(m, "carehub_open_alerts_query_ok") == 0
    assert value(m, "carehub_ingest_connected") == 0


def test_without_an_ingest_only_connected_zero_is_reported(sessions: sessionmaker[Session]) -> None:
    app = create_app(sessions)
    install_metrics(app, lambda: None, sessions)
    m = scrape(TestClient(app))
    assert value(m, "carehub_ingest_connected") == 0
    assert not any(k[0].startswith("carehub_ingest_events") for k in m)
    assert not any(k[0].startswith("carehub_open_alerts") for k in m)


def test_probe_reads_a_real_ingest_services_queue(sessions: sessionmaker[Session]) -> None:
    # Never started: no broker needed; the queue and stats are the real objects.
    service = IngestService(IngestConfig(BrokerAddress("127.0.0.1", 1, "u", "p")), sessions)
    probe = IngestProbe(service)
    assert probe.queue_depth() == 0
    assert probe.oldest_queued_at() is None
    t0 = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    for i in range(3):
        service._queue.put(Inbound("carehub/v1/dev/x/evt/motion", b"{}", t0 + timedelta(seconds=i)))
    service.stats.batches = 7
    assert probe.queue_depth() == 3
    assert probe.oldest_queued_at() == t0
    assert probe.stats.batches == 7

    source: IngestSource = probe
    collector = HubCollector(
        lambda: source,
        sessions,
        now=lambda: t0 + timedelta(seconds=12),
        monotonic=lambda: 1000.0,
    )
    service.stats.last_commit_at = 995.5
    got = {
        s.name: s.value for family in collector.collect() for s in family.samples if not s.labels
    }
    assert got["carehub_ingest_lag_seconds"] == 12
    assert got["carehub_ingest_seconds_since_last_commit"] == pytest.approx(4.5)
    assert got["carehub_ingest_queue_depth"] == 3


def test_rule_evaluation_histogram_is_served_by_every_app(sessions: sessionmaker[Session]) -> None:
    apps = []
    for _ in range(2):  # two apps in one process must not clash over the shared histogram
        app = create_app(sessions)
        install_metrics(app, lambda: None, sessions)
        apps.append(TestClient(app))
    before = scrape(apps[0]).get(("carehub_rule_evaluation_seconds_count", (("stage", "unit"),)), 0)
    observe_rule_evaluation("unit", 0.002)
    with rule_evaluation_timer("unit"):
        pass
    for client in apps:
        m = scrape(client)
        assert value(m, "carehub_rule_evaluation_seconds_count", stage="unit") == before + 2
        # 0.002 s lies in the 0.0025 bucket, not in the 0.001 one.
        le_1ms = value(m, "carehub_rule_evaluation_seconds_bucket", stage="unit", le="0.001")
        le_2_5ms = value(m, "carehub_rule_evaluation_seconds_bucket", stage="unit", le="0.0025")
        assert le_2_5ms - le_1ms >= 1
