"""jgc's Conv and ConvTranspose compute what Flax's compute, gradients included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgc.models import convs


KINDS = {"conv": (convs.Conv, nn.Conv), "transpose": (convs.ConvTranspose, nn.ConvTranspose)}


def _pair(kind: str, kernel: int, stride: int, x: jax.Array):
  ours, flax = (cls(4, (kernel, kernel), (stride, stride), padding="SAME") for cls in KINDS[kind])
  return ours, flax, flax.init(jax.random.key(3), x)


@pytest.mark.parametrize("kind", KINDS)
def test_parameters_and_initializers_are_flaxs(kind):
  x = jnp.ones((1, 5, 6, 3))
  ours, flax, v = _pair(kind, 5, 2, x)
  mine = ours.init(jax.random.key(3), x)
  assert jax.tree.structure(mine) == jax.tree.structure(v)
  for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(v)):
    np.testing.assert_array_equal(a, b)


# The zoo's: convs 7x7, 3x3, 1x1 at stride 1, 3x3 and 5x5 at stride 2 (E, the GDN and hyper
# transforms), 4x4 at strides 1 and 2 (the discriminators); transposed 3x3 and 5x5 at stride 2
# (G, the GDN and hyper synthesis). The rest cover kernels smaller than, equal to and larger
# than the stride.
CASES = [("conv", k, s) for k, s in [(7, 1), (3, 1), (1, 1), (3, 2), (5, 2), (4, 2), (4, 1), (2, 2), (1, 2), (7, 3)]]
CASES += [("transpose", k, s) for k, s in [(3, 2), (5, 2), (1, 2), (2, 2), (4, 2), (3, 3), (7, 3), (3, 1)]]


@pytest.mark.parametrize("kind,kernel,stride", CASES)
@pytest.mark.parametrize("size", [(4, 4), (5, 7)])
def test_outputs_and_gradients_equal_flaxs(kind, kernel, stride, size):
  x = jax.random.normal(jax.random.key(0), (2, *size, 3))
  ours, flax, v = _pair(kind, kernel, stride, x)
  np.testing.assert_allclose(ours.apply(v, x), flax.apply(v, x), atol=2e-6)
  probe = jax.random.normal(jax.random.key(1), flax.apply(v, x).shape)

  def loss(module):
    return jax.grad(lambda v, x: (module.apply(v, x) * probe).sum(), argnums=(0, 1))(v, x)

  for a, b in zip(jax.tree.leaves(loss(ours)), jax.tree.leaves(loss(flax))):
    np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-5)


def test_kernel_gradients_are_per_tap_products_in_the_compute_dtype():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3), jnp.bfloat16)
  k = jax.random.normal(jax.random.key(1), (3, 3, 3, 5), jnp.bfloat16)
  dx, dk = jax.grad(lambda x, k: convs.conv_valid(x, k).astype(jnp.float32).sum(), argnums=(0, 1))(x, k)
  assert dx.dtype == dk.dtype == jnp.bfloat16
  # Every output sums the window, so each tap's gradient is the sum of the inputs it reads.
  want = np.stack([[np.asarray(x[:, i:i + 4, j:j + 4], np.float32).sum((0, 1, 2)) for j in range(3)]
                   for i in range(3)])
  np.testing.assert_allclose(np.asarray(dk, np.float32), np.repeat(want[..., None], 5, -1), rtol=0.02, atol=0.1)


@pytest.mark.parametrize("kind", KINDS)
def test_other_backends_keep_the_native_form(kind, monkeypatch):
  x = jax.random.normal(jax.random.key(0), (1, 3, 5, 2))
  ours, flax, v = _pair(kind, 5, 2, x)
  calls = []
  monkeypatch.setattr(convs, "conv_valid", lambda *a: calls.append(a))
  monkeypatch.setattr(convs, "strided_conv", lambda *a: calls.append(a))
  monkeypatch.setattr(convs, "use_cpu_forms", lambda: False)
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


@pytest.mark.parametrize("kind", KINDS)
def test_only_same_padding_is_accepted(kind):
  with pytest.raises(ValueError, match="SAME"):
    KINDS[kind][0](4, (3, 3), (2, 2), padding="VALID").init(jax.random.key(0), jnp.ones((1, 2, 2, 1)))
