"""Reference node implementations, one package per protocol family.

These are independent executables that speak the node contract; they never import the
harness.
"""
