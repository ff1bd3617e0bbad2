import jax
import jax.numpy as jnp
import numpy as np

from jgc import entropy


def test_uniform_noise_is_bounded_keyed_and_centred():
  x = jnp.zeros((4096,))
  a = entropy.add_uniform_noise(x, jax.random.key(0))
  b = entropy.add_uniform_noise(x, jax.random.key(0))
  c = entropy.add_uniform_noise(x, jax.random.key(1))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert float(a.min()) >= -0.5 and float(a.max()) <= 0.5
  assert abs(float(a.mean())) < 0.02
  assert abs(float(a.var()) - 1 / 12) < 0.01


def test_round_ste_rounds_with_identity_gradient():
  x = jnp.array([-1.6, -0.4, 0.2, 0.7, 2.5001])
  np.testing.assert_array_equal(entropy.round_ste(x), jnp.round(x))
  g = jax.grad(lambda v: (entropy.round_ste(v) * jnp.arange(5.0)).sum())(x)
  np.testing.assert_array_equal(g, jnp.arange(5.0))


def test_quantize_around_mean_values_and_gradients():
  y = jnp.array([0.3, 1.2, -2.7, 4.49])
  mu = jnp.array([0.4, -0.1, 0.25, 0.0])
  q = entropy.quantize_around_mean(y, mu)
  np.testing.assert_allclose(q, jnp.round(y - mu) + mu, atol=1e-6)
  np.testing.assert_allclose(q - mu, jnp.round(q - mu), atol=1e-6)
  gy, gmu = jax.grad(lambda a, b: entropy.quantize_around_mean(a, b).sum(), argnums=(0, 1))(y, mu)
  np.testing.assert_array_equal(gy, jnp.ones(4))
  np.testing.assert_array_equal(gmu, jnp.zeros(4))


def test_symbols_and_dequantize_are_inverse_on_the_grid():
  mu = jnp.array([0.25, -1.5, 3.0])
  y = jnp.array([2.1, -7.9, 3.4])
  s = entropy.symbols(y, mu)
  assert s.dtype == jnp.int32
  np.testing.assert_array_equal(s, [2, -6, 0])
  np.testing.assert_allclose(entropy.dequantize(s, mu), entropy.quantize_around_mean(y, mu), atol=1e-6)
