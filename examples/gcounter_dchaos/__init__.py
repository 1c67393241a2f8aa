"""A grow-only counter family for pytest-dchaos, packaged as a third party would package it.

The worked example of docs/architecture.md ("Writing a protocol family"): ``family``
registers the family and its check through the ``dchaos`` entry-point group, ``node`` is a
node for it.
"""
