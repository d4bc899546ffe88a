"""The diagnostic tools: the catalogue of templates, target validation, per-platform commands,
result parsers and outcomes."""
