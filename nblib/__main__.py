"""``python -m nblib`` is the ``nblib`` command."""

import sys

from nblib.cli.main import main

sys.exit(main())
