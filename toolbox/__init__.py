"""toolBox: remote diagnostics from many agents, side by side."""

__version__ = "0.1.0"
