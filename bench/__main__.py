"""``python -m bench`` is ``bilayer-bench``."""

import sys

from bench.cli import main

sys.exit(main())
