"""A running cluster and its links: requests and process control (``running``), the
agents' control channels, the fault layer's links, and the cluster's timers.
"""
