"""Backends: one per file (see ``base`` for the contract)."""
