"""How much memory decoding may take, so that a header claiming a huge image is an error, not an abort.

A `.jgc` header names the image size, and a few bytes of stream can hold a
huge latent (a symbol at a Gaussian's peak costs a few millionths of a bit),
so stream lengths cannot bound it. Before decoding anything the decoder
compiles the synthesis for the claimed size and asks XLA how much memory it
needs (`Compiled.memory_analysis`), adds the host arrays of the side
information and, on the CPU, the largest buffer a convolution's kernel
allocates outside XLA's accounting (`cpu_kernel_scratch_bytes`), and tiles or
refuses what exceeds the budget.
"""

import math
import os

import jax
import jax.extend.core as jex

from jgc import errors

BUDGET_ENV = "JGC_MEMORY_BUDGET_GIB"
AVAILABLE_SHARE = 0.8


class TooLarge(errors.Error, ValueError):
  """An image too large to code: beyond the format's size limits, or needing more memory than the budget allows."""


def budget_bytes() -> int:
  """`$JGC_MEMORY_BUDGET_GIB`, else 80% of the memory available now."""
  value = os.environ.get(BUDGET_ENV)
  if value:
    try:
      return int(float(value) * 2**30)
    except ValueError:
      raise errors.ConfigError(f"{BUDGET_ENV}={value!r} is not a number of GiB") from None
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


def cpu_kernel_scratch_bytes(jaxpr: jex.ClosedJaxpr) -> int:
  """The largest buffer one convolution or matrix product of `jaxpr` allocates in XLA:CPU's kernels
  (0 on other backends), which `Compiled.memory_analysis` does not count.

  Eigen's threaded contraction, which XLA:CPU runs convolutions with, packs the whole left operand
  at once when it has very many rows: for a convolution, its im2col matrix of one row per output
  pixel and `kh * kw * C_in` columns. Where that one allocation exceeds what the kernel will commit,
  it throws `std::bad_alloc` and the process aborts. Measured, a 7x7 convolution from 8 channels:
  4096x3000 outputs (12.3M rows) allocated nothing extra; 4096x3600 (14.7M) asked 23 GB at once,
  and 4096x4096 (tiny HiFiC's output layer) aborted on a 24 GB machine. Operands of fewer than
  `PACKED_ROWS` rows are not counted; more are counted whole, as the allocation asks.
  """
  if jax.default_backend() != "cpu":
    return 0
  return _largest_operands(jaxpr.jaxpr)


# Below the 12.3M rows measured to allocate nothing extra, with a margin.
PACKED_ROWS = 1 << 23


def _largest_operands(jaxpr: jex.Jaxpr) -> int:
  largest = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      kernel, out = eqn.invars[1].aval, eqn.outvars[0].aval
      out_features = eqn.params["dimension_numbers"].out_spec[1]
      kernel_out = eqn.params["dimension_numbers"].rhs_spec[0]
      rows = math.prod(out.shape) // out.shape[out_features]
      columns = kernel.size // kernel.shape[kernel_out]
      if rows >= PACKED_ROWS:
        largest = max(largest, (rows * columns + kernel.size) * kernel.dtype.itemsize)
    elif eqn.primitive.name == "dot_general":
      (contracting, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval
      if lhs.size // math.prod(lhs.shape[d] for d in contracting) >= PACKED_ROWS:
        largest = max(largest, sum(v.aval.size * v.aval.dtype.itemsize for v in eqn.invars))
  for sub in jex.subjaxprs(jaxpr):
    largest = max(largest, _largest_operands(sub))
  return largest
