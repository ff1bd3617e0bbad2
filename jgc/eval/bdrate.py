"""Bjontegaard delta rate (VCEG-M33, 2001): the average bitrate difference
between two rate-distortion curves at equal quality.

Each curve's log-rate is fit by a cubic polynomial in the quality metric;
the fits are integrated over the metric range both curves cover. For metrics
where lower is better (LPIPS), pass the negated values.
"""

import numpy as np


def _check(name: str, rate: np.ndarray, metric: np.ndarray) -> None:
  if len(rate) < 4 or len(rate) != len(metric):
    raise ValueError(f"BD-rate needs at least 4 (rate, metric) points per curve; the {name} has {len(rate)}")
  if np.any(rate <= 0) or not np.all(np.isfinite(metric)):
    raise ValueError(f"BD-rate needs positive rates and finite metrics; the {name} curve has others")


def bd_rate(rate_ref, metric_ref, rate_test, metric_test) -> float:
  """Percent rate change of `test` against `ref` at equal metric (negative: test saves bits).

  Needs at least 4 points per curve, positive rates, and overlapping metric ranges.
  """
  rate_ref, metric_ref, rate_test, metric_test = (np.asarray(v, np.float64) for v in
                                                  (rate_ref, metric_ref, rate_test, metric_test))
  _check("reference", rate_ref, metric_ref)
  _check("test", rate_test, metric_test)
  lo = max(metric_ref.min(), metric_test.min())
  hi = min(metric_ref.max(), metric_test.max())
  if lo >= hi:
    raise ValueError("BD-rate: the two curves cover no common metric range")
  fits = [np.polyfit(m, np.log(r), 3) for r, m in ((rate_ref, metric_ref), (rate_test, metric_test))]
  areas = [np.diff(np.polyval(np.polyint(f), [lo, hi]))[0] for f in fits]
  return float((np.exp((areas[1] - areas[0]) / (hi - lo)) - 1) * 100)


def rate_difference(rate_ref, metric_ref, rate: float, metric: float) -> float:
  """Percent rate change of one operating point against a reference curve at
  its metric: BD-rate's fit, evaluated at a point, for a single model."""
  rate_ref, metric_ref = np.asarray(rate_ref, np.float64), np.asarray(metric_ref, np.float64)
  _check("reference", rate_ref, metric_ref)
  if not metric_ref.min() <= metric <= metric_ref.max():
    raise ValueError(f"the point's quality {metric:.4g} is outside the reference's range "
                     f"[{metric_ref.min():.4g}, {metric_ref.max():.4g}]")
  fit = np.polyfit(metric_ref, np.log(rate_ref), 3)
  return float((rate / np.exp(np.polyval(fit, metric)) - 1) * 100)
