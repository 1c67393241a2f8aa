"""The PBFT reference replica: ``python3 -m reference_nodes.pbft``."""
