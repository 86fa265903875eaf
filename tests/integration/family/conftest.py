"""Family tests share the robots test world (SQLite and PostgreSQL)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "robots"))

from robots_world import robots_engine, rsession, rworld  # noqa: E402

__all__ = ["robots_engine", "rsession", "rworld"]
