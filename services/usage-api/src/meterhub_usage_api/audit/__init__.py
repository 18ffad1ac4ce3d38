"""Who read which ESI ID, for what range, when: written in batches, queried by operators."""
