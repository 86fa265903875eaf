"""/metrics with several hubs: this hub's shard ownership next to the ingest series."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from hub.metrics import ShardSnapshot, build_registry, set_shard_source


@pytest.fixture(autouse=True)
def _no_source() -> Iterator[None]:
    yield
    set_shard_source(None)


def _scrape() -> str:
    return generate_latest(build_registry(lambda: None, None)).decode()


def test_a_single_hub_exports_no_shard_series() -> None:
    assert "carehub_shard" not in _scrape()


def test_a_shard_owner_exports_which_shards_it_owns_and_its_hand_overs() -> None:
    snap = ShardSnapshot(
        configured=16,
        owned=(3, 7),
        live_hubs=3,
        acquired=4,
        lost=1,
        released=1,
        failures=0,
        rules_lag_s=0.25,
    )
    set_shard_source(lambda: snap)
    text = _scrape()
    for line in (
        "carehub_shards_configured 16.0",
        "carehub_shards_owned 2.0",
        "carehub_shard_live_hubs 3.0",
        'carehub_shard_owned{shard="3"} 1.0',
        'carehub_shard_owned{shard="7"} 1.0',
        "carehub_shard_acquisitions_total 4.0",
        "carehub_shard_losses_total 1.0",
        "carehub_shard_releases_total 1.0",
        "carehub_shard_failures_total 0.0",
        "carehub_shard_rules_lag_seconds 0.25",
    ):
        assert line in text
    assert 'carehub_shard_owned{shard="4"}' not in text
