"""``python -m audiogen_core``: see audiogen_core.cli.main."""

import sys

from .cli.main import main

sys.exit(main())
