"""The PBFT family's checks, one per module."""
