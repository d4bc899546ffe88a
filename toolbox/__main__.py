"""``python -m toolbox`` runs the server."""

import sys

from toolbox.server import main

sys.exit(main())
