"""Per-REP FTPS folders with daily PGP-encrypted usage files, ad-hoc delivery, retention and
retrieval logs.
"""
