"""carehub: the hub service (ingest, store, rules, alerts, API, web UI, CLI)."""
