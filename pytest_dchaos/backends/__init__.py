"""Backends: a package or module each (see ``base`` for the contract)."""
