"""`python -m host_tools.cli ...` is `earshot ...`."""

import sys

from . import main

sys.exit(main())
