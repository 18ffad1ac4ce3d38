"""OAuth2 token endpoint: client credentials for companies, password grant for customers."""
