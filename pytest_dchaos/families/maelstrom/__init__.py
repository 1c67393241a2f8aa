"""Maelstrom's small workloads that no protocol family here covers: echo, unique-ids,
g-counter and pn-counter (see :mod:`pytest_dchaos.families.maelstrom.family`)."""
