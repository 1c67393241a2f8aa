"""The gossip family: broadcast with SWIM membership (``family`` registers it)."""
