"""The PBFT family: a replicated key-value store under Byzantine faults (``family``
registers it).
"""
