"""Who may read which ESI ID for which operating days (the design's access rules, in SQL)."""
