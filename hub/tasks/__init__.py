"""Follow-up tasks for a care team (e.g. after a dispenser's missed dose)."""
