"""Alerts: lifecycle (open -> acknowledged -> resolved), dedup, routing, escalation, SSE."""
