"""`python -m jgc.codec ...`: the same as the `jgc` command."""

import sys

from jgc.codec.cli import main

sys.exit(main())
