"""Node-level tests of the reference nodes, run as real processes through a fake router."""
