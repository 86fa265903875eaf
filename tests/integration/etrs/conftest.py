"""eTRS database fixtures (defined in etrs_world)."""

from etrs_world import etrs_engine, password_hash, session, world

__all__ = ["etrs_engine", "password_hash", "session", "world"]
