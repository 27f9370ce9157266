"""The testbed on Docker Swarm: stack file generation and result collection (`python -m swarm`)."""
