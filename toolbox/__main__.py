"""``python -m toolbox`` and the ``toolbox`` command: the server, serving every handler.

The top of the layers (docs/architecture.md): the one module that joins the handlers
(``toolbox.handlers.routes``) to the server below them that serves them (``toolbox.server.main``).
"""

import sys

from toolbox.handlers import routes
from toolbox.server import main as server


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``toolbox`` console script."""
    return server.main(routes(), argv)


if __name__ == "__main__":
    sys.exit(main())
