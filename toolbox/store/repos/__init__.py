"""Repositories: one class per collection, the only code that speaks MongoDB's query language for it."""
