"""The local backend: agents and nodes as local processes."""
