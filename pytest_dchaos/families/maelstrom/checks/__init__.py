"""The checks of Maelstrom's small workloads, one module each."""
