"""Fault types: one concept per module (see ``base`` for the contract)."""
