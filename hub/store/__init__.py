"""Persistence: SQLAlchemy models, engine and units of work."""
