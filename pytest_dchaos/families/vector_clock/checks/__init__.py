"""The vector-clock family's checks, one per module."""
