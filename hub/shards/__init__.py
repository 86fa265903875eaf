"""Several hubs: per-home rule state owned by one hub at a time (shard leases, event feed).

See docs/adr/0011-several-hubs.md.
"""
