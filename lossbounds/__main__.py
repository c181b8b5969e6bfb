"""``python -m lossbounds``: the same as the ``lossbounds`` command."""

import sys

from .cli import main

sys.exit(main())
