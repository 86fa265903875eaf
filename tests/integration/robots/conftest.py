"""Robots DB fixtures (defined in robots_world)."""

from robots_world import robots_engine, rsession, rworld

__all__ = ["robots_engine", "rsession", "rworld"]
