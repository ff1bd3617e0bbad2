"""The sub-pixel transposed conv computes what Flax's computes, gradients included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgc.models import convs


def _pair(kernel: int, stride: int, x: jax.Array):
  ours = convs.ConvTranspose(4, (kernel, kernel), (stride, stride), padding="SAME")
  flax = nn.ConvTranspose(4, (kernel, kernel), (stride, stride), padding="SAME")
  return ours, flax, flax.init(jax.random.key(3), x)


def test_parameters_and_initializers_are_flaxs():
  x = jnp.ones((1, 5, 6, 3))
  ours, flax, v = _pair(5, 2, x)
  mine = ours.init(jax.random.key(3), x)
  assert jax.tree.structure(mine) == jax.tree.structure(v)
  for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(v)):
    np.testing.assert_array_equal(a, b)


# 3x3 and 5x5 at stride 2 are the zoo's (HiFiC's G, the GDN and hyper synthesis); the rest
# cover kernels smaller than, equal to and larger than the stride.
@pytest.mark.parametrize("kernel,stride", [(3, 2), (5, 2), (1, 2), (2, 2), (4, 2), (3, 3), (7, 3), (3, 1)])
@pytest.mark.parametrize("size", [(4, 4), (5, 7)])
def test_outputs_and_gradients_equal_flaxs(kernel, stride, size):
  x = jax.random.normal(jax.random.key(0), (2, *size, 3))
  ours, flax, v = _pair(kernel, stride, x)
  np.testing.assert_allclose(ours.apply(v, x), flax.apply(v, x), atol=2e-6)
  probe = jax.random.normal(jax.random.key(1), flax.apply(v, x).shape)

  def loss(module):
    return jax.grad(lambda v, x: (module.apply(v, x) * probe).sum(), argnums=(0, 1))(v, x)

  for a, b in zip(jax.tree.leaves(loss(ours)), jax.tree.leaves(loss(flax))):
    np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-5)


def test_the_native_form_is_kept_where_sub_pixel_is_off(monkeypatch):
  x = jax.random.normal(jax.random.key(0), (1, 3, 5, 2))
  ours, flax, v = _pair(5, 2, x)
  calls = []
  monkeypatch.setattr(convs, "subpixel_conv_transpose", lambda *a: calls.append(a))
  monkeypatch.setattr(convs, "use_subpixel_form", lambda: False)
  np.testing.assert_allclose(ours.apply(v, x), flax.apply(v, x), atol=2e-6)
  assert not calls


def test_bfloat16_compute_keeps_float32_parameters():
  x = jax.random.normal(jax.random.key(0), (1, 4, 4, 3))
  m = convs.ConvTranspose(4, (3, 3), (2, 2), dtype=jnp.bfloat16)
  v = m.init(jax.random.key(0), x)
  assert v["params"]["kernel"].dtype == jnp.float32
  y = m.apply(v, x)
  assert y.dtype == jnp.bfloat16
  want = nn.ConvTranspose(4, (3, 3), (2, 2), padding="SAME").apply(v, x)
  np.testing.assert_allclose(y.astype(jnp.float32), want, atol=0.05, rtol=0.02)


def test_only_same_padding_is_accepted():
  with pytest.raises(ValueError, match="SAME"):
    convs.ConvTranspose(4, (3, 3), (2, 2), padding="VALID").init(jax.random.key(0), jnp.ones((1, 2, 2, 1)))
