"""Pharmacy list import: MP9 FHIR Bundles and Dutch CSV → ClientListDraft (pure, no I/O)."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from etrs.importers.csv_format import parse_csv, write_csv
from etrs.importers.limits import Limits
from etrs.importers.mp9 import Progress, parse_fhir
from etrs.importers.report import ImportResult, Issue, operation_outcome, rejected, report_lines

__all__ = [
    "ImportResult",
    "Issue",
    "Limits",
    "SUPPORTED_CONTENT_TYPES",
    "content_type_for",
    "import_bytes",
    "operation_outcome",
    "parse_csv",
    "parse_fhir",
    "report_lines",
    "write_csv",
]

log = logging.getLogger(__name__)

SUPPORTED_CONTENT_TYPES = ("application/fhir+json", "application/fhir+xml", "text/csv")
_ALIASES = {
    "application/fhir+json": "application/fhir+json",
    "application/json": "application/fhir+json",
    "application/fhir+xml": "application/fhir+xml",
    "application/xml": "application/fhir+xml",
    "text/xml": "application/fhir+xml",
    "text/csv": "text/csv",
    "application/csv": "text/csv",
    "application/vnd.ms-excel": "text/csv",  # what browsers send for .csv on Windows
}


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Raise the young-generation GC threshold while an upload is parsed.

    A 5,000-client bundle allocates millions of short-lived objects; with the default
    threshold (700) the collector re-scans the growing heap thousands of times, which costs
    a third of the import. Collection still runs, just less often; the old thresholds come
    back when the last concurrent import ends.
    """
    global _gc_depth, _gc_saved
    with _gc_lock:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(100_000, 50, 100)
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)


def import_bytes(
    data: bytes,
    content_type: str,
    *,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Parse and validate one upload; never raises on bad input, returns a structured result."""
    try:
        with _fewer_gc_passes():
            return _import(data, content_type, limits, progress)
    except Exception:
        # a bug must not become a half-import or a 500 without a report; tests assert that
        # no input reaches this path (issue code "exception")
        log.exception("pharmacy list import failed unexpectedly")
        return rejected(
            "fhir+json",
            [
                Issue(
                    "error",
                    "exception",
                    "Interne fout bij het inlezen; er is niets opgeslagen",
                    "Internal error while reading the file; nothing was stored",
                )
            ],
        )


def _import(
    data: bytes, content_type: str, limits: Limits | None, progress: Progress | None
) -> ImportResult:
    media = content_type.split(";", 1)[0].strip().lower()
    kind = _ALIASES.get(media)
    if kind == "text/csv":
        return parse_csv(data, limits=limits)
    if kind is not None:
        return parse_fhir(data, kind, limits=limits, progress=progress)
    return rejected(
        "fhir+json",
        [
            Issue(
                "error",
                "not-supported",
                f"Bestandstype '{media}' wordt niet ondersteund; gebruik "
                "application/fhir+xml, application/fhir+json of text/csv",
                f"Content type '{media}' is not supported; use application/fhir+xml, "
                "application/fhir+json or text/csv",
            )
        ],
    )


def content_type_for(filename: str) -> str:
    """Guess the content type from a file name (for the CLI)."""
    lower = filename.lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "text/csv"
    if lower.endswith(".xml"):
        return "application/fhir+xml"
    return "application/fhir+json"
