"""The gossip family's checks, one per module."""
