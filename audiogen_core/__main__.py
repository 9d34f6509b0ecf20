"""``python -m audiogen_core``: see audiogen_core.cli."""

import sys

from .cli import main

sys.exit(main())
