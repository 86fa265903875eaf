"""The import-list command: report, exit codes, dry run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from etrs.importers.cli import import_list
from etrs.importers.synthetic import bundle, fake_bsn

app = typer.Typer()
app.command()(import_list)
runner = CliRunner()


def test_dry_run_accepts_a_valid_bundle(tmp_path: Path) -> None:
    f = tmp_path / "lijst.json"
    f.write_text(json.dumps(bundle(3, items_per_client=2)))
    result = runner.invoke(app, [str(f), "--pharmacy", "apo-1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "geaccepteerd: 3 cliënt(en), 6 regel(s)" in result.output
    assert "niets opgeslagen" in result.output


def test_invalid_file_exits_1_with_row_and_column(tmp_path: Path) -> None:
    f = tmp_path / "lijst.csv"
    f.write_text("bsn;geneesmiddel;startdatum\r\n123456789;X;01-01-2026\r\n", encoding="cp1252")
    result = runner.invoke(app, [str(f), "--pharmacy", "apo-1", "--dry-run"])
    assert result.exit_code == 1
    assert "rij 2" in result.output
    assert "'bsn'" in result.output
    assert "geweigerd" in result.output


def test_english_report(tmp_path: Path) -> None:
    f = tmp_path / "lijst.xml"
    f.write_bytes(b"<Bundle/>")
    result = runner.invoke(app, [str(f), "--pharmacy", "apo-1", "--dry-run", "--english"])
    assert result.exit_code == 1
    assert "namespace" in result.output


def test_store_is_all_or_nothing_and_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select

    from etrs.models import ListItem, ListVersion
    from hub.auth.service import create_pharmacy, link_pharmacy_client
    from hub.settings import get_settings
    from hub.store.db import make_engine, make_sessionmaker, unit_of_work
    from hub.store.migrate import upgrade
    from hub.store.models import Client

    url = f"sqlite:///{tmp_path / 'carehub.db'}"
    monkeypatch.setenv("CAREHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        create_pharmacy(session, pharmacy_id="apo-1", name="Apotheek Test")
        for n in range(3):
            session.add(
                Client(
                    id=f"c{n}",
                    display_name=f"Test {n}",
                    bsn=fake_bsn(n),
                    created_at=datetime.now(UTC),
                )
            )
            session.flush()
            if n < 2:  # the third client is not this pharmacy's
                link_pharmacy_client(session, pharmacy_id="apo-1", client_id=f"c{n}")

    def counts() -> tuple[int, int]:
        with factory() as s:
            return (
                s.scalar(select(func.count()).select_from(ListVersion)) or 0,
                s.scalar(select(func.count()).select_from(ListItem)) or 0,
            )

    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(bundle(2, items_per_client=2)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle(3, items_per_client=3, seed=9)))
    try:
        assert runner.invoke(app, [str(ok), "--pharmacy", "apo-1"]).exit_code == 0
        assert counts() == (2, 4)
        again = runner.invoke(app, [str(ok), "--pharmacy", "apo-1"])
        assert again.exit_code == 0
        assert "0 nieuwe lijstversie(s), 2 ongewijzigd" in again.output
        refused = runner.invoke(app, [str(bad), "--pharmacy", "apo-1"])
        assert refused.exit_code == 1
        assert "niets opgeslagen" in refused.output
        assert counts() == (2, 4)  # the two known clients did not get a new version either
    finally:
        engine.dispose()
        get_settings.cache_clear()
