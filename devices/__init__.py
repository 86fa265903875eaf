"""The device contract: topics, the event envelope and per-kind payload schemas. Pure, no I/O."""
