"""TDSP files: the HTTPS file API, the durable processing queue, loading and activity reports."""
