"""``python -m sbx``: the same as the ``sbx`` command."""

import sys

from sbx.cli.main import main

sys.exit(main())
