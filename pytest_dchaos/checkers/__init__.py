"""Checkers: one per file, each judging a finished run's record (see ``base``)."""
