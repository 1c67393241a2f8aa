"""The transaction family's checks, one per module."""
