"""Jobs: a tool on many agents, the agents it selects, its live tally, which process counts it, its export; raw commands."""
