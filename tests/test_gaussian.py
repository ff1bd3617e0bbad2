import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgc import entropy
from jgc.entropy import gaussian


def _closed_form(v, s):
  def cdf(x):
    return 0.5 * (1 + math.erf(x / (s * math.sqrt(2))))

  return cdf(v + 0.5) - cdf(v - 0.5)


@pytest.mark.parametrize("scale", [0.11, 0.5, 1.0, 3.7, 20.0, 256.0])
def test_likelihood_matches_closed_form(scale):
  y = np.linspace(-6 * scale - 2, 6 * scale + 2, 101).astype(np.float32)
  mean = np.float32(0.3)
  p = entropy.gaussian_likelihood(jnp.asarray(y), mean, jnp.full(y.shape, scale))
  want = np.array([max(_closed_form(float(v) - 0.3, scale), 1e-9) for v in y])
  np.testing.assert_allclose(np.asarray(p, np.float64), want, atol=1e-6)


def test_scale_is_bounded_and_likelihood_floored():
  y = jnp.array([0.0, 0.0, 50.0])
  p = entropy.gaussian_likelihood(y, 0.0, jnp.array([0.0, 0.11, 0.11]))
  assert float(p[0]) == pytest.approx(float(p[1]))
  assert float(p[2]) == pytest.approx(1e-9)


def test_likelihood_gradient_reaches_scale_below_the_bound():
  # At a tiny scale the bound is active; a large residual must still push the scale up.
  g = jax.grad(lambda s: -jnp.log2(entropy.gaussian_likelihood(jnp.array(1.0), 0.0, s)))(0.01)
  assert float(g) < 0


def test_scale_table_matches_the_official_constants():
  t = entropy.SCALE_TABLE
  assert t.shape == (64,)
  np.testing.assert_allclose(t, np.exp(np.linspace(np.log(0.11), np.log(256), 64)))


def test_scale_index_snaps_to_the_nearest_entry_in_log_space():
  rng = np.random.default_rng(0)
  s = np.exp(rng.uniform(np.log(0.01), np.log(1000), 20000)).astype(np.float32)
  got = np.asarray(entropy.scale_index(s))
  want = np.argmin(np.abs(np.log(s[:, None].astype(np.float64)) - np.log(entropy.SCALE_TABLE)), axis=1)
  np.testing.assert_array_equal(got, want)
  assert got.min() == 0 and got.max() == 63
  np.testing.assert_allclose(entropy.table_scale(got), entropy.SCALE_TABLE[got].astype(np.float32))


def test_scale_index_is_stable_at_the_boundaries():
  b = gaussian.SNAP_BOUNDARIES
  below = np.nextafter(b, np.float32(0))
  np.testing.assert_array_equal(entropy.scale_index(b), np.arange(63))
  np.testing.assert_array_equal(entropy.scale_index(below), np.arange(63))
  np.testing.assert_array_equal(entropy.scale_index(np.nextafter(b, np.float32(np.inf))), np.arange(1, 64))


def test_lower_bound_gradient_passes_only_when_useful():
  def f(x, w):
    return (w * entropy.lower_bound(x, 1.0)).sum()

  x = jnp.array([2.0, 0.5, 0.5])
  # Loss gradient -1 pushes x up: passes. +1 below the bound: blocked. Above: passes.
  g = jax.grad(f)(x, jnp.array([1.0, -1.0, 1.0]))
  np.testing.assert_array_equal(g, [1.0, -1.0, 0.0])
  np.testing.assert_array_equal(entropy.lower_bound(x, 1.0), [2.0, 1.0, 1.0])


def test_bits():
  p = jnp.array([[0.5, 0.25, 1.0], [0.125, 0.5, 0.5]])
  np.testing.assert_allclose(entropy.bits(p), [3.0, 5.0])
