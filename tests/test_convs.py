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
  for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(v), strict=True):
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

  for a, b in zip(jax.tree.leaves(loss(ours)), jax.tree.leaves(loss(flax)), strict=True):
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
def test_other_paddings_are_refused(kind):
  with pytest.raises(ValueError, match="SAME or TORCH or explicit pairs"):
    KINDS[kind][0](4, (3, 3), (2, 2), padding="VALID").init(jax.random.key(0), jnp.ones((1, 2, 2, 1)))


def _torch_conv(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
  """PyTorch's `Conv2d(k, s, padding=k // 2)` by its definition; w is (O, I, k, k)."""
  k, p = w.shape[-1], w.shape[-1] // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  ho, wo = (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1
  out = np.zeros((x.shape[0], ho, wo, w.shape[0]))
  for i in range(ho):
    for j in range(wo):
      out[:, i, j] = np.einsum("nhwc,ochw->no", xp[:, i * s:i * s + k, j * s:j * s + k], w)
  return out


def _torch_conv_transpose(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
  """PyTorch's `ConvTranspose2d(k, s, padding=k // 2, output_padding=s - 1)` by its definition:
  input i adds `w[t]` at output `i * s - k // 2 + t`; w is (I, O, k, k)."""
  k, p = w.shape[-1], w.shape[-1] // 2
  n, h, wd, _ = x.shape
  out = np.zeros((n, h * s + 2 * k, wd * s + 2 * k, w.shape[1]))
  for i in range(h):
    for j in range(wd):
      out[:, k + i * s - p:k + i * s - p + k, k + j * s - p:k + j * s - p + k] += np.einsum(
          "nc,cohw->nhwo", x[:, i, j], w)
  return out[:, k:k + h * s, k:k + wd * s]


# The CPU forms for the zoo's TORCH layers; the native forms (lax padding pairs) for one of each kind.
@pytest.mark.parametrize("kind,kernel,stride,cpu_forms", [
    ("conv", 5, 2, True), ("conv", 3, 1, True), ("conv", 1, 1, True), ("conv", 3, 2, True), ("transpose", 5, 2, True),
    ("transpose", 3, 2, True), ("conv", 5, 2, False), ("transpose", 5, 2, False)])
@pytest.mark.parametrize("size", [(4, 6), (5, 7)])
def test_torch_padding_is_pytorchs_alignment(kind, kernel, stride, size, cpu_forms, monkeypatch):
  monkeypatch.setattr(convs, "use_cpu_forms", lambda: cpu_forms)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, *size, 3)).astype(np.float32)
  if kind == "conv":
    w = rng.normal(size=(4, 3, kernel, kernel)).astype(np.float32)
    want, ours = _torch_conv(x, w, stride), w.transpose(2, 3, 1, 0)
  else:
    w = rng.normal(size=(3, 4, kernel, kernel)).astype(np.float32)
    # The importers' mapping: PyTorch's transposed kernels are flipped in space for Flax's layout.
    want, ours = _torch_conv_transpose(x, w, stride), w.transpose(2, 3, 0, 1)[::-1, ::-1]
  module = KINDS[kind][0](4, (kernel, kernel), (stride, stride), padding="TORCH")
  got = module.apply({"params": {"kernel": ours, "bias": np.zeros(4, np.float32)}}, x)
  np.testing.assert_allclose(got, want, atol=2e-5)
  if kind == "conv" and stride > 1:  # the input gradient goes through the space-to-depth form
    probe = rng.normal(size=want.shape)
    dx = jax.grad(lambda x: (module.apply({"params": {"kernel": ours, "bias": np.zeros(4)}}, x) * probe).sum())(x)
    eps, i = 1e-2, (1, 2, 3, 1)
    bumped = x.copy()
    bumped[i] += eps
    numeric = ((_torch_conv(bumped, w, stride) - want) * probe).sum() / eps
    np.testing.assert_allclose(dx[i], numeric, rtol=1e-3, atol=1e-3)


# The PyTorch HiFiC port's reflection paddings: 7x7 by 3, 3x3 stride 2 by (top 1, right 1), 5x5 stride 2 by 2.
@pytest.mark.parametrize("kernel,stride,pads", [(7, 1, ((3, 3), (3, 3))), (3, 2, ((1, 0), (0, 1))),
                                                (5, 2, ((2, 2), (2, 2)))])
def test_explicit_reflect_padding_is_a_reflected_image_then_valid(kernel, stride, pads):
  x = jax.random.normal(jax.random.key(0), (2, 8, 10, 3))
  ours = convs.Conv(4, (kernel, kernel), (stride, stride), padding=pads, pad_mode="reflect")
  flax = nn.Conv(4, (kernel, kernel), (stride, stride), padding="VALID")
  v = ours.init(jax.random.key(1), x)

  def reference(v, x):
    return flax.apply(v, jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect"))

  np.testing.assert_allclose(ours.apply(v, x), flax.apply(v, np.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect")),
                             atol=2e-5)
  probe = jax.random.normal(jax.random.key(2), reference(v, x).shape)
  grads = [jax.grad(lambda v, x, f=f: (f(v, x) * probe).sum(), argnums=(0, 1))(v, x) for f in (ours.apply, reference)]
  for a, b in zip(*map(jax.tree.leaves, grads), strict=True):
    np.testing.assert_allclose(a, b, atol=5e-5, rtol=1e-5)
  with pytest.raises(ValueError, match="pad_mode"):
    convs.Conv(4, (3, 3), pad_mode="wrap").init(jax.random.key(0), x)
