"""The Gaussian conditional: a mean-scale Gaussian convolved with U(-1/2, 1/2)
(and its logistic twin, for models imported from the PyTorch HiFiC port).

Minnen et al. 2018 (§3) and HiFiC (Mentzer et al. 2020, §3.1) model each latent
as N(mean, scale^2) convolved with unit uniform noise. For coding, scales are
snapped to a fixed table (TFC `models/hific/archs.py`: SCALES_MIN 0.11,
SCALES_MAX 256, SCALES_LEVELS 64), so the coder needs only 64 CDF tables and an
integer index per symbol.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jgc.entropy.lower_bound import lower_bound

SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64
LIKELIHOOD_BOUND = 1e-9

# Float64 on the host; the coder builds its tables from these exact values.
SCALE_TABLE = np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), SCALE_LEVELS))
# Geometric midpoints: a scale snaps to the table entry nearest in log space.
# Stored as float32 so that snapping is a pure comparison, identical on every
# backend for identical inputs.
SNAP_BOUNDARIES = np.sqrt(SCALE_TABLE[1:] * SCALE_TABLE[:-1]).astype(np.float32)


def _standardized_cdf(x: jax.Array) -> jax.Array:
  # erfc keeps precision deep in the lower tail, where 1 + erf(x) cancels.
  return 0.5 * jax.scipy.special.erfc(-x * np.float32(np.sqrt(0.5)))


def gaussian_likelihood(
    y: jax.Array,
    mean: jax.Array | float,
    scale: jax.Array,
    *,
    scale_bound: float = SCALE_MIN,
    likelihood_bound: float = LIKELIHOOD_BOUND,
) -> jax.Array:
  """P(y) under N(mean, scale^2) * U(-1/2, 1/2), elementwise.

  Args:
    y: noisy or quantized latents.
    mean: predicted means, broadcastable to `y`.
    scale: predicted scales, broadcastable to `y`; lower-bounded by `scale_bound`.
    scale_bound: smallest scale, the table's first entry (HiFiC: 0.11).
    likelihood_bound: floor on the likelihood so that `log2` stays finite.

  Returns:
    Likelihoods with the shape of `y`.
  """
  return _likelihood(_standardized_cdf, y, mean, scale, scale_bound=scale_bound, likelihood_bound=likelihood_bound)


def logistic_likelihood(y: jax.Array, mean: jax.Array | float, scale: jax.Array, **bounds: float) -> jax.Array:
  """P(y) under Logistic(mean, scale) * U(-1/2, 1/2), elementwise, with `gaussian_likelihood`'s
  arguments (the PyTorch HiFiC port's `likelihood_type="logistic"`, its `helpers/maths.py`)."""
  return _likelihood(jax.nn.sigmoid, y, mean, scale, **bounds)


DISTRIBUTIONS = {"gaussian": gaussian_likelihood, "logistic": logistic_likelihood}


def _likelihood(cdf, y, mean, scale, *, scale_bound: float = SCALE_MIN,
                likelihood_bound: float = LIKELIHOOD_BOUND) -> jax.Array:
  scale = lower_bound(scale, scale_bound)
  # Evaluate on the negative side of the mean, where the CDF is small and exact.
  v = jnp.abs(y - mean)
  return lower_bound(cdf((0.5 - v) / scale) - cdf((-0.5 - v) / scale), likelihood_bound)


def scale_index(scale: jax.Array) -> jax.Array:
  """Snaps each scale to its nearest table entry; returns int32 indices in [0, 63].

  Deterministic: a count of float32 comparisons, so two machines that computed
  the same scales compute the same indices.
  """
  scale = jnp.asarray(scale, jnp.float32)
  return jnp.searchsorted(jnp.asarray(SNAP_BOUNDARIES), scale, side="left").astype(jnp.int32)


def table_scale(index: jax.Array) -> jax.Array:
  """The table scale for each index, as float32."""
  return jnp.asarray(SCALE_TABLE, jnp.float32)[index]
