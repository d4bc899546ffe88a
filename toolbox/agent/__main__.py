"""``python -m toolbox.agent`` runs the reference agent (``toolbox-agent``)."""

import sys

from toolbox.agent.cli import main

sys.exit(main())
