"""The transaction family: 2PC / 3PC over sharded keys, with deadlock detection
(``family`` registers it).
"""
