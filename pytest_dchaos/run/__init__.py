"""Composing one run: the runner, the fault schedule (nemesis), the client workload and
progress lines.
"""
