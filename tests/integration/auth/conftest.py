"""Auth DB tests share the eTRS test world (SQLite and PostgreSQL)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "etrs"))

from etrs_world import etrs_engine, password_hash, session, world  # noqa: E402

__all__ = ["etrs_engine", "password_hash", "session", "world"]
