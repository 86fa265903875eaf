"""Pharmacy list import benchmark: a 5,000-client FHIR bundle (JSON and XML) and CSV.

Run: .venv/bin/python bench/import.py [--clients 5000] [--items 4] [--store URL]
Target (issue 6): < 10 s each. For each format it times parse + validate (what the upload
answers before anything is stored) and, with --store, storing the accepted lists in one
transaction (new list versions, items, diff, audit entries) into a scratch database:
"sqlite" (default, a temporary file), "none", or a PostgreSQL URL whose database is
created and dropped. Prints wall and CPU seconds: on a busy machine the CPU figure of
the parse is the fairer one (the store's CPU figure leaves out the database server).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from etrs.importers import ImportResult, import_bytes, write_csv  # noqa: E402
from etrs.importers.service import store_upload  # noqa: E402
from etrs.importers.synthetic import bundle, fake_bsn, to_xml  # noqa: E402
from hub.auth.models import Pharmacy, PharmacyClient  # noqa: E402
from hub.store.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from hub.store.models import Client  # noqa: E402


def _parse(label: str, data: bytes, content_type: str) -> ImportResult:
    gc.collect()  # start each format from the same heap
    start, cpu_start = time.perf_counter(), time.process_time()
    result = import_bytes(data, content_type)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if not result.ok:
        raise SystemExit(f"{label}: import failed: {result.errors[:3]}")
    items = result.item_count
    print(
        f"{label:<10} parse+validate {len(result.drafts):>6} clients {items:>7} items "
        f"{len(data) / 1e6:>6.1f} MB {seconds:>7.2f} s wall {cpu:>6.2f} s cpu "
        f"{items / seconds:>8.0f} items/s"
    )
    return result


class Store:
    """A scratch database with one pharmacy that supplies the synthetic clients."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.admin = None
        if url.startswith("postgresql"):
            parsed = make_url(url)
            self.admin = make_engine(
                parsed.set(database="postgres").render_as_string(hide_password=False),
                isolation_level="AUTOCOMMIT",
            )
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        upgrade(url)
        self.engine = make_engine(url)
        self.factory = make_sessionmaker(self.engine)
        now = datetime.now(UTC)
        with unit_of_work(self.factory) as s:
            s.add(Pharmacy(id="bench-ph", name="Bench Apotheek", created_at=now))
            s.flush()
            s.execute(
                insert(Client),
                [
                    {"id": f"c{n}", "display_name": f"Client {n}", "bsn": fake_bsn(n)}
                    | {"created_at": now}
                    for n in range(clients)
                ],
            )
            s.execute(
                insert(PharmacyClient),
                [{"pharmacy_id": "bench-ph", "client_id": f"c{n}"} for n in range(clients)],
            )

    def store(self, label: str, result: ImportResult) -> None:
        """Store the upload in one transaction and print the time it took."""
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        with unit_of_work(self.factory) as s:
            out = store_upload(
                s, pharmacy_id="bench-ph", result=result, actor="bench", origin="bench"
            )
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        print(
            f"{label:<10} store          {out.created:>6} new versions, {out.unchanged} "
            f"unchanged {seconds:>7.2f} s wall {cpu:>6.2f} s cpu "
            f"{result.item_count / seconds:>8.0f} items/s"
        )

    def close(self) -> None:
        """Drop the scratch database."""
        self.engine.dispose()
        if self.admin is not None:
            database = make_url(self.url).database
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            self.admin.dispose()


def main() -> None:
    """Generate the inputs, then time each format once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--items", type=int, default=4, help="TAs per client")
    parser.add_argument(
        "--store",
        default="sqlite",
        help='"sqlite" (temporary file), "none", or a PostgreSQL URL (database is created)',
    )
    args = parser.parse_args()
    doc = bundle(args.clients, items_per_client=args.items)
    as_json = json.dumps(doc).encode()
    # a second list version for every client: one dose changed per client, so the store
    # also computes and saves real diffs
    for entry in doc["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "MedicationDispense" and res["id"].endswith("-0"):
            dose = res["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
            dose["value"] = dose["extension"][0]["valueQuantity"]["value"] = 3
    as_xml = to_xml(doc).encode()
    del doc
    as_csv = write_csv(import_bytes(as_json, "application/fhir+json").drafts)
    print(f"{args.clients} clients x {args.items} administration agreements")
    tmp = tempfile.TemporaryDirectory()
    store: Store | None = None
    if args.store == "sqlite":
        store = Store(f"sqlite:///{tmp.name}/bench.db", args.clients)
    elif args.store != "none":
        url = make_url(args.store)
        if not url.database or url.database == "postgres":
            url = url.set(database=f"carehub_bench_import_{uuid.uuid4().hex[:6]}")
        store = Store(url.render_as_string(hide_password=False), args.clients)
    try:
        # JSON stores version 1, XML (one dose changed) version 2 with diffs, CSV (the JSON
        # content again) version 3; the last line re-sends CSV: nothing new (content hash)
        for label, data, ctype in (
            ("FHIR JSON", as_json, "application/fhir+json"),
            ("FHIR XML", as_xml, "application/fhir+xml"),
            ("CSV", as_csv, "text/csv"),
        ):
            result = _parse(label, data, ctype)
            if store is not None:
                store.store(label, result)
        if store is not None:
            store.store("CSV again", result)
            print(f"store: {store.engine.dialect.name}; target < 10 s per format")
    finally:
        if store is not None:
            store.close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
