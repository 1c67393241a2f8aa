"""The grow-only counter's checks, one per module."""
