"""``python -m bench`` runs the benchmark harness."""

import sys

from bench.run import main

sys.exit(main())
