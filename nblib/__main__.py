"""``python -m nblib`` is the ``nblib`` command."""

import sys

from nblib.engine.cli import main

sys.exit(main())
