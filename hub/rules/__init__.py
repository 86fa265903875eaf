"""Pure, event-time rule engine: (event, state) -> alert decisions, tested without a broker."""
