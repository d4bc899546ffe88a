"""Delivering tasks to agents: the agent registry, parked fetches, an agent's lifecycle, result reports."""
