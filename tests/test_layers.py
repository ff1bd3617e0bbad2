import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgc.models.layers import GDN, ChannelNorm, MaskedConv, SNConv, causal_mask


def test_channel_norm_matches_a_numpy_reference():
  x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32) * 3 + 1
  m = ChannelNorm()
  v = {"params": {"scale": jnp.arange(1.0, 6.0), "bias": jnp.full((5,), 0.5)}}
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).sum(-1, keepdims=True) / 4  # unbiased
  want = (x - mean) / np.sqrt(var + 1e-3) * np.arange(1.0, 6.0) + 0.5
  np.testing.assert_allclose(m.apply(v, x), want, rtol=1e-5, atol=1e-5)
  # Not LayerNorm: biased variance and eps 1e-6 would give another answer.
  ln = (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-6) * np.arange(1.0, 6.0) + 0.5
  assert np.abs(np.asarray(m.apply(v, x)) - ln).max() > 1e-2


def test_channel_norm_is_size_independent():
  m = ChannelNorm()
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 6))
  v = m.init(jax.random.key(0), x)
  np.testing.assert_allclose(m.apply(v, x)[:, :4, :4], m.apply(v, x[:, :4, :4]), atol=1e-6)


def test_gdn_and_igdn_match_numpy_references():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(1, 2, 3, 4)).astype(np.float32)
  gamma = np.abs(rng.normal(size=(4, 4))).astype(np.float32) * 0.2 + 0.01
  beta = np.abs(rng.normal(size=4)).astype(np.float32) + 0.5
  pedestal = 2.0**-36
  params = {"params": {"beta": jnp.sqrt(beta + pedestal), "gamma": jnp.sqrt(gamma + pedestal)}}
  norm = np.sqrt(beta + np.einsum("...j,ij->...i", x * x, gamma))
  np.testing.assert_allclose(GDN().apply(params, x), x / norm, rtol=1e-5)
  np.testing.assert_allclose(GDN(inverse=True).apply(params, x), x * norm, rtol=1e-5)


def test_gdn_initializes_near_identity_scaling_and_bounds_parameters():
  x = jax.random.normal(jax.random.key(0), (1, 4, 4, 3))
  v = GDN().init(jax.random.key(0), x)
  np.testing.assert_allclose(GDN().apply(v, x), x / jnp.sqrt(1 + 0.1 * x * x), rtol=1e-5)
  negative = jax.tree.map(lambda a: -jnp.abs(a) - 1.0, v)
  assert bool(jnp.all(jnp.isfinite(GDN().apply(negative, x))))


def test_causal_mask_is_type_a():
  m = np.asarray(causal_mask(5))
  assert m.sum() == 12 and m[2, 2] == 0 and m[2, :2].all() and not m[2, 3:].any() and m[:2].all()


@pytest.mark.parametrize("pos", [(0, 0), (3, 4), (6, 6)])
def test_masked_conv_never_sees_the_current_or_later_positions(pos):
  x = jax.random.normal(jax.random.key(0), (1, 7, 7, 2))
  m = MaskedConv(3)
  v = m.init(jax.random.key(1), x)
  grad = jax.grad(lambda x: m.apply(v, x)[0, pos[0], pos[1]].sum())(x)
  seen = np.abs(np.asarray(grad[0])).sum(-1) > 0
  order = np.arange(49).reshape(7, 7)
  current = pos[0] * 7 + pos[1]
  assert not seen[order >= current].any()
  # and it does see its causal neighbourhood
  if current > 0:
    assert seen[max(pos[0] - 2, 0) : pos[0] + 1].any()


def test_spectral_norm_converges_to_the_largest_singular_value():
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 3))
  m = SNConv(4, 3)
  v = m.init(jax.random.key(1), x, train=True)
  for _ in range(50):
    _, updates = m.apply(v, x, train=True, mutable=["batch_stats"])
    v = {**v, **updates}
  kernel = v["params"]["Conv_0"]["kernel"].reshape(-1, 4)
  stats = v["batch_stats"]["SpectralNorm_0"]
  sigma = float(stats["Conv_0/kernel/sigma"])
  assert sigma == pytest.approx(float(np.linalg.svd(np.asarray(kernel), compute_uv=False)[0]), rel=1e-3)
