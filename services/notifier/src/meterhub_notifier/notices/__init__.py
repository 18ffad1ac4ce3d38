"""Market Notices: ERCOT's layout, the notice id scheme, the advance-notice rule, the API."""
