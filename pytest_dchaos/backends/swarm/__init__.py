"""The Swarm backend: each node a Docker Swarm service, spread over the swarm's machines."""
