"""Market Notices to listservs, availability probes, incidents and monthly SLO reports."""
