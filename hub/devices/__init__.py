"""Device registry: provisioning, listing and revoking devices (with their broker accounts)."""
