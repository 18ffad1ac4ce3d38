"""Per-client token buckets and the IETF RateLimit headers on every response."""
