"""Pharmacy list import benchmark: parse + validate a 5,000-client FHIR bundle and CSV.

Run: .venv/bin/python bench/import.py [--clients 5000] [--items 4]
Target (issue 6): < 10 s each. Prints wall and CPU seconds: on a busy machine the CPU
figure is the fairer one.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from etrs.importers import import_bytes, write_csv
from etrs.importers.synthetic import bundle, to_xml


def _run(label: str, data: bytes, content_type: str) -> tuple[int, float]:
    gc.collect()  # start each format from the same heap
    start, cpu_start = time.perf_counter(), time.process_time()
    result = import_bytes(data, content_type)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if not result.ok:
        raise SystemExit(f"{label}: import failed: {result.errors[:3]}")
    items = result.item_count
    print(
        f"{label:<14} {len(result.drafts):>6} clients {items:>7} items "
        f"{len(data) / 1e6:>6.1f} MB {seconds:>7.2f} s wall {cpu:>7.2f} s cpu "
        f"{items / seconds:>8.0f} items/s"
    )
    return items, seconds


def main() -> None:
    """Generate the inputs, then time each format once."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--items", type=int, default=4, help="TAs per client")
    args = parser.parse_args()
    doc = bundle(args.clients, items_per_client=args.items)
    as_json = json.dumps(doc).encode()
    as_xml = to_xml(doc).encode()
    as_csv = write_csv(import_bytes(as_json, "application/fhir+json").drafts)
    del doc
    print(f"{args.clients} clients x {args.items} administration agreements")
    _run("FHIR JSON", as_json, "application/fhir+json")
    _run("FHIR XML", as_xml, "application/fhir+xml")
    _run("CSV", as_csv, "text/csv")


if __name__ == "__main__":
    main()
