"""What a run leaves: the client history, the run's record and verdicts, statistics, and
the report folder.
"""
