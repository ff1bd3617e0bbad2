"""How much memory decoding may take, so that a header claiming a huge image is an error, not an abort.

A `.jgc` header names the image size, and a few bytes of stream can hold a
huge latent (a symbol at a Gaussian's peak costs a few millionths of a bit),
so stream lengths cannot bound it. Before decoding anything the decoder
compiles the synthesis for the claimed size and asks XLA how much memory it
needs (`Compiled.memory_analysis`), adds the host arrays of the side
information, and refuses what exceeds the budget.
"""

import os

BUDGET_ENV = "JGC_MEMORY_BUDGET_GIB"
AVAILABLE_SHARE = 0.8


class TooLarge(ValueError):
  """Decoding the file would take more memory than the budget allows."""


def budget_bytes() -> int:
  """`$JGC_MEMORY_BUDGET_GIB`, else 80% of the memory available now."""
  value = os.environ.get(BUDGET_ENV)
  if value:
    try:
      return int(float(value) * 2**30)
    except ValueError:
      raise ValueError(f"{BUDGET_ENV}={value!r} is not a number of GiB") from None
  return int(AVAILABLE_SHARE * _available_bytes())


def _available_bytes() -> int:
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check(needed: int, what: str) -> None:
  """Raises `TooLarge` naming `what` if `needed` bytes exceed the budget."""
  budget = budget_bytes()
  if needed > budget:
    source = (f"from ${BUDGET_ENV}" if os.environ.get(BUDGET_ENV)
              else f"{AVAILABLE_SHARE:.0%} of the memory available; set ${BUDGET_ENV} to change it")
    raise TooLarge(f"{what} needs about {needed / 2**30:.2f} GiB; the budget is {budget / 2**30:.2f} GiB ({source})")
