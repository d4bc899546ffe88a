"""The database seam: opening MongoDB or the embedded fake, and query helpers."""
