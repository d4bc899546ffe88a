"""Job rate and target limits: in memory (embedded) and in MongoDB (shared)."""
