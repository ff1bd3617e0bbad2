"""`python -m jgc.evaluate`: the evaluation command of `jgc.eval.evaluate`."""

import sys

from jgc.eval.evaluate import main

if __name__ == "__main__":
  sys.exit(main())
