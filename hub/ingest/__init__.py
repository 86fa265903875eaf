"""MQTT ingest: paho client, bounded queue, batched idempotent storage, ack after commit."""
