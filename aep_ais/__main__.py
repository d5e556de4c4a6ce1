"""`python -m aep_ais`: the `aep-ais` command line."""

import sys

from .cli import main

sys.exit(main())
