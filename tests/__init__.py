"""toolBox test suite."""
