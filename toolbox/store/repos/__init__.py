"""One repository per collection: the only code that speaks MongoDB's query language.

Each module holds a collection's repository (``ensure_indexes`` and domain-named
methods, its indexes declared beside the queries that use them) and, where the
embedded database needs speed on the hot path, an in-memory implementation of the same
contract (``Memory…``).  ``toolbox.server.variants`` picks one per collection; the
services receive them through their constructors.  ``tests/test_repo_*.py`` run each
contract on both implementations (the in-memory one and a MongoDB-wire server).
"""
