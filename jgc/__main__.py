"""`python -m jgc ...`: the same as the `jgc` command."""

import sys

from jgc.cli import main

sys.exit(main())
