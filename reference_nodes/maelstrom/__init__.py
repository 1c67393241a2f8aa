"""Reference nodes for Maelstrom's small workloads (echo, unique-ids, g-counter,
pn-counter): each module runs as ``python3 -m reference_nodes.maelstrom.<name>``."""
