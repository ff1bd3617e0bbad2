"""Integer CDF tables: the only description of a distribution the coder uses.

Tables are built once, on the host, from a trained model and stored with it.
The decoder reads the stored integers and never recomputes them: two float
paths to the same CDF (scipy's and XLA's `erfc`, say) differ in the last bit,
which moves table entries and desynchronizes the stream.

Each table covers the integer symbols `offset .. offset + size - 2`; its last
entry, `size - 1`, is the escape symbol that announces a value outside that
range, whose payload is then coded losslessly (see `coder.py`). Every entry has
at least one count, so any value can be coded.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from jgc import errors
from jgc.entropy import FactorizedPrior, gaussian

DEFAULT_PRECISION = 16


class TableError(errors.Error, ValueError):
  """Stored tables are malformed (corrupt bundle or wrong file)."""


@dataclasses.dataclass(frozen=True)
class CdfTables:
  """A stack of integer CDFs, one row per table, padded on the right.

  Attributes:
    cdf: `(n, L + 1)` uint32; row `i` rises strictly from 0 to `2**precision`
      over its first `sizes[i] + 1` entries, and stays at `2**precision` after.
    sizes: `(n,)` int32, entries per table including the escape symbol.
    offsets: `(n,)` int32, the symbol value of each table's first entry.
    precision: bits of the CDF's fixed-point scale.
  """

  cdf: np.ndarray
  sizes: np.ndarray
  offsets: np.ndarray
  precision: int

  def __post_init__(self) -> None:
    _validate(self)

  @property
  def num_tables(self) -> int:
    return int(self.sizes.shape[0])

  def pmf(self, i: int) -> np.ndarray:
    """Integer counts of table `i` (escape last), summing to `2**precision`."""
    return np.diff(self.cdf[i, : self.sizes[i] + 1]).astype(np.int64)

  def to_arrays(self) -> dict[str, np.ndarray]:
    return {
        "cdf": self.cdf,
        "sizes": self.sizes,
        "offsets": self.offsets,
        "precision": np.array(self.precision, np.int32),
    }

  @classmethod
  def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "CdfTables":
    """Rebuilds stored tables; raises `TableError` naming what is wrong."""
    missing = {"cdf", "sizes", "offsets", "precision"} - set(arrays)
    if missing:
      raise TableError(f"CDF tables lack the arrays {sorted(missing)}")
    return cls(
        cdf=np.asarray(arrays["cdf"], np.uint32),
        sizes=np.asarray(arrays["sizes"], np.int32),
        offsets=np.asarray(arrays["offsets"], np.int32),
        precision=int(arrays["precision"]),
    )

  @classmethod
  def from_pmfs(
      cls,
      pmfs: Sequence[np.ndarray],
      offsets: Sequence[int],
      precision: int = DEFAULT_PRECISION,
  ) -> "CdfTables":
    """Quantizes float pmfs over `offset, offset + 1, ...` into integer tables.

    The mass that a pmf leaves out (one minus its sum) becomes the escape
    symbol's probability.
    """
    counts = []
    for p in pmfs:
      p = np.clip(np.asarray(p, np.float64), 0.0, None)
      tail = max(1.0 - p.sum(), 0.0)
      counts.append(quantize_pmf(np.append(p, tail), precision))
    width = max(len(c) for c in counts)
    cdf = np.full((len(counts), width + 1), 1 << precision, np.uint32)
    for i, c in enumerate(counts):
      cdf[i, 0] = 0
      cdf[i, 1 : len(c) + 1] = np.cumsum(c)
    return cls(
        cdf=cdf,
        sizes=np.array([len(c) for c in counts], np.int32),
        offsets=np.asarray(offsets, np.int32),
        precision=precision,
    )


def quantize_pmf(p: np.ndarray, precision: int) -> np.ndarray:
  """Integer counts summing to `2**precision`, each at least 1, close to `p`.

  Every symbol gets one count; the rest is shared in proportion to `p`, and
  the counts lost to flooring go to the largest remainders.
  """
  total = 1 << precision
  k = len(p)
  if k > total:
    raise ValueError(f"a table of {k} symbols does not fit {precision}-bit precision")
  if not np.all(np.isfinite(p)) or p.sum() <= 0:
    raise ValueError("pmf must be finite with positive mass")
  share = p / p.sum() * (total - k)
  counts = np.floor(share).astype(np.int64) + 1
  remainder = total - int(counts.sum())
  counts[np.argsort(-(share - np.floor(share)), kind="stable")[:remainder]] += 1
  return counts


def scale_tables(
    distribution: str = "gaussian",
    scale_table: np.ndarray = gaussian.SCALE_TABLE,
    precision: int = DEFAULT_PRECISION,
    tail_mass: float | None = None,
) -> CdfTables:
  """Tables for N(0, s^2) * U(-1/2, 1/2) (or the logistic with scale s), one per
  table scale, in float64.

  Symbols are `round(y - mean)`. Each table spans the central `1 - tail_mass`
  of its density; by default `tail_mass = 2**-precision`, since a symbol rarer
  than one count would cost more as a table entry than as an escape.
  """
  if distribution not in _CDFS:
    raise ValueError(f"unknown distribution {distribution!r}; expected one of {sorted(_CDFS)}")
  cdf = _CDFS[distribution]
  tail_mass = 2.0**-precision if tail_mass is None else tail_mass
  z = _upper_quantile(cdf, tail_mass / 2)
  pmfs, offsets = [], []
  for s in np.asarray(scale_table, np.float64):
    k = max(1, math.ceil(s * z))
    x = np.arange(-k, k + 1, dtype=np.float64)
    pmfs.append(cdf((x + 0.5) / s) - cdf((x - 0.5) / s))
    offsets.append(-k)
  return CdfTables.from_pmfs(pmfs, offsets, precision)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
  return 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in np.atleast_1d(x)])


def _logistic_cdf(x: np.ndarray) -> np.ndarray:
  # exp(-|x|) keeps the lower tail exact where 1 / (1 + exp(-x)) would round.
  x = np.atleast_1d(np.asarray(x, np.float64))
  e = np.exp(-np.abs(x))
  return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_CDFS = {"gaussian": _normal_cdf, "logistic": _logistic_cdf}


def _upper_quantile(cdf: Callable[[np.ndarray], np.ndarray], q: float) -> float:
  """The z with P(Z > z) = q for the standardized `cdf`, by bisection (no scipy needed)."""
  lo, hi = 0.0, 40.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if cdf(-mid)[0] > q else (lo, mid)
  return hi


def _validate(t: CdfTables) -> None:
  if not 1 <= t.precision <= 24:
    raise TableError(f"CDF precision {t.precision} is outside 1..24 bits")
  if t.cdf.ndim != 2 or t.sizes.shape != (t.cdf.shape[0],) or t.offsets.shape != t.sizes.shape:
    raise TableError(
        f"CDF table shapes disagree: cdf {t.cdf.shape}, sizes {t.sizes.shape}, offsets {t.offsets.shape}")
  if t.sizes.size and (t.sizes.min() < 2 or t.sizes.max() + 1 > t.cdf.shape[1]):
    raise TableError("CDF table sizes must be at least 2 and fit the stored rows")
  total = 1 << t.precision
  for i, size in enumerate(t.sizes):
    row = t.cdf[i, : size + 1].astype(np.int64)
    if row[0] != 0 or row[-1] != total or np.any(np.diff(row) <= 0):
      raise TableError(f"CDF table {i} is not strictly increasing from 0 to 2**{t.precision}")


# A table wider than this would spend a large share of its counts on the
# one-count floor; values beyond it are cheaper as escapes.
MAX_FACTORIZED_HALF_WIDTH = 2048


def factorized_tables(prior: FactorizedPrior, variables: dict, precision: int = DEFAULT_PRECISION) -> CdfTables:
  """Tables for a trained `FactorizedPrior`, one per channel.

  Each channel's table spans its learned tail quantiles, relative to the
  median (symbols are `round(z - median)`), and is evaluated once in float32
  through the model itself; the stored integers are what both sides code with.
  """
  tails = np.asarray(prior.apply(variables, method="tail_quantiles"), np.float64)
  if not np.all(np.isfinite(tails)):
    raise TableError("the factorized prior has non-finite quantiles")
  lo = np.clip(np.floor(tails[:, 0]), -MAX_FACTORIZED_HALF_WIDTH, 0).astype(np.int64)
  hi = np.clip(np.ceil(tails[:, 1]), 0, MAX_FACTORIZED_HALF_WIDTH).astype(np.int64)
  width = int((hi - lo).max()) + 1
  grid = lo[:, None] + np.arange(width)[None, :]
  pmf = np.asarray(prior.apply(variables, grid.astype(np.float32), method="pmf_grid"), np.float64)
  pmfs = [pmf[c, : hi[c] - lo[c] + 1] for c in range(len(lo))]
  return CdfTables.from_pmfs(pmfs, lo, precision)
