"""TDSP file intake: LSE interval files, meter-data-sync, register reads and monthly usage;
validation, versioned storage, activity reports.
"""
