"""The durable mail outbox: every notice reaches every listserv address once."""
