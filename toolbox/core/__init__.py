"""The server's core: tasks and their lifecycle, dispatch to parked fetches, jobs, agents, events and the live feed."""
