"""Bjontegaard delta rate (VCEG-M33, 2001): the average bitrate difference
between two rate-distortion curves at equal quality.

Each curve's log-rate, as a function of the quality metric, is either fit by
one cubic polynomial (Bjontegaard's original, `method="cubic"`) or
interpolated piecewise by monotone cubic Hermite polynomials
(`method="pchip"`, which JVET's common test conditions use since the cubic fit
can oscillate between points); either is integrated over the metric range
both curves cover. For metrics where lower is better (LPIPS), pass the
negated values.
"""

import numpy as np
from numpy.typing import ArrayLike
from scipy.interpolate import PchipInterpolator

from jgc import errors

METHODS = ("cubic", "pchip")


class Incomparable(errors.Error, ValueError):
  """Curves that give no rate difference: too few points, rates that are not positive, no common metric range."""


def _check(name: str, rate: np.ndarray, metric: np.ndarray) -> None:
  if len(rate) < 4 or len(rate) != len(metric):
    raise Incomparable(f"BD-rate needs at least 4 (rate, metric) points per curve; the {name} has {len(rate)}")
  if np.any(rate <= 0) or not np.all(np.isfinite(metric)):
    raise Incomparable(f"BD-rate needs positive rates and finite metrics; the {name} curve has others")


def _area(rate: np.ndarray, metric: np.ndarray, lo: float, hi: float, method: str) -> float:
  """The integral of log-rate over the metric from `lo` to `hi`."""
  if method == "cubic":
    return float(np.diff(np.polyval(np.polyint(np.polyfit(metric, np.log(rate), 3)), [lo, hi]))[0])
  order = np.argsort(metric)
  if np.any(np.diff(metric[order]) <= 0):
    raise Incomparable("BD-rate (pchip) needs distinct metric values along each curve")
  return float(PchipInterpolator(metric[order], np.log(rate[order])).integrate(lo, hi))


def bd_rate(rate_ref: ArrayLike, metric_ref: ArrayLike, rate_test: ArrayLike, metric_test: ArrayLike,
            method: str = "cubic") -> float:
  """Percent rate change of `test` against `ref` at equal metric (negative: test saves bits).

  Needs at least 4 points per curve, positive rates, and overlapping metric ranges.
  """
  if method not in METHODS:
    raise errors.ConfigError(f"unknown BD-rate method {method!r}; use one of {METHODS}")
  rate_ref, metric_ref, rate_test, metric_test = (np.asarray(v, np.float64) for v in
                                                  (rate_ref, metric_ref, rate_test, metric_test))
  _check("reference", rate_ref, metric_ref)
  _check("test", rate_test, metric_test)
  lo = max(metric_ref.min(), metric_test.min())
  hi = min(metric_ref.max(), metric_test.max())
  if lo >= hi:
    raise Incomparable("BD-rate: the two curves cover no common metric range")
  areas = [_area(r, m, lo, hi, method) for r, m in ((rate_ref, metric_ref), (rate_test, metric_test))]
  return float((np.exp((areas[1] - areas[0]) / (hi - lo)) - 1) * 100)


def rate_difference(rate_ref: ArrayLike, metric_ref: ArrayLike, rate: float, metric: float) -> float:
  """Percent rate change of one operating point against a reference curve at
  its metric: BD-rate's fit, evaluated at a point, for a single model."""
  rate_ref, metric_ref = np.asarray(rate_ref, np.float64), np.asarray(metric_ref, np.float64)
  _check("reference", rate_ref, metric_ref)
  if not metric_ref.min() <= metric <= metric_ref.max():
    raise Incomparable(f"the point's quality {metric:.4g} is outside the reference's range "
                       f"[{metric_ref.min():.4g}, {metric_ref.max():.4g}]")
  fit = np.polyfit(metric_ref, np.log(rate_ref), 3)
  return float((rate / np.exp(np.polyval(fit, metric)) - 1) * 100)
