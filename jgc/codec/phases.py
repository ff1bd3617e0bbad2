"""The named phases of coding an image, for profilers and benchmarks.

Each phase is a `jax.profiler.TraceAnnotation` (it shows in a profiler's trace) and, only while a
benchmark is `recording()`, a sum of its wall-clock seconds. The codec's results carry no timing.

Phases: "analysis" and "hyper_analysis" (the encoder's transforms), "side_info" (the fixed-point
hyper-synthesis and scale indices; per position for the autoregressive model), "range_coding",
"synthesis" (the decoder's transform).
"""

import contextlib
import time
from collections.abc import Callable, Iterator

import jax

# Adds a phase's seconds; set only inside `recording()`.
_record: Callable[[str, float], None] | None = None


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
  """Marks what runs inside as phase `name`."""
  with jax.profiler.TraceAnnotation(name):
    record = _record
    if record is None:
      yield
      return
    start = time.perf_counter()
    try:
      yield
    finally:
      record(name, time.perf_counter() - start)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, float]]:
  """Seconds per phase of what runs inside, summed over its calls (filled in as the phases end)."""
  global _record
  seconds: dict[str, float] = {}

  def record(name: str, elapsed: float) -> None:
    seconds[name] = seconds.get(name, 0.0) + elapsed

  previous, _record = _record, record
  try:
    yield seconds
  finally:
    _record = previous
