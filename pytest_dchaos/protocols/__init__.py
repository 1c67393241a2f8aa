"""Protocol families: one module per family (see ``base`` for the contract)."""
