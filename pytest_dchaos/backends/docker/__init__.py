"""The Docker backend: one container per node, images built from local material."""
