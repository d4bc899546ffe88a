"""toolBox: remote diagnostics from many agents, side by side.

The HTTP handlers live in the repository's top-level ``handlers/`` folder (the project's
layout) and are installed as ``toolbox.handlers`` (``setup.py``'s ``package_dir``), so the
installed distribution adds no generic top-level package to site-packages.  Run from a
checkout (the tests, ``python -m toolbox``), ``toolbox/handlers`` does not exist: then the
checkout's root joins this package's search path, and ``toolbox.handlers`` is that folder.
"""

import os as _os

__version__ = "0.1.0"

_here = _os.path.dirname(_os.path.abspath(__file__))
_checkout = _os.path.dirname(_here)
if (not _os.path.isdir(_os.path.join(_here, "handlers"))
        and _os.path.isfile(_os.path.join(_checkout, "handlers", "__init__.py"))):
    __path__.append(_checkout)  # only ``handlers`` is imported from there
