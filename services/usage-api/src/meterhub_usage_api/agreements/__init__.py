"""Energy data sharing agreements (a CSP's request) and Friends and Family invitations."""
