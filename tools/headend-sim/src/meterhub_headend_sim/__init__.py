"""A TDSP AMS head-end simulator: the SOAP peer of Meterhub's HAN gateway.

Standalone on purpose (a peer that is not ours): it depends on third-party packages only.
"""
