"""``python -m toolbox`` runs the server."""

import sys

from toolbox.server.main import main

sys.exit(main())
