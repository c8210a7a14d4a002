"""``python -m sim`` is the ``edgesim`` command."""

import sys

from sim.cli import main

sys.exit(main())
