"""The vector-clock family: causal broadcast, snapshots, ShiViz logs (``family``
registers it).
"""
