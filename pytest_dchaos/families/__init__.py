"""Protocol families: a folder per family (hooks, workload, observations, one module per
check, artifacts), each registered through the ``dchaos`` entry-point group; ``base`` holds
the contract every family implements.
"""
