"""Input limits, checked before any expensive parsing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one upload; the web layer may pass tighter ones."""

    max_bytes: int = 128 * 1024 * 1024
    max_entries: int = 100_000  # Bundle entries
    max_rows: int = 100_000  # CSV data rows
    max_depth: int = 64  # XML nesting
