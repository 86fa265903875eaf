"""Mantelzorgers (family): links to clients, day overview and daytime notifications."""
