"""Convolutions in the forms XLA's CPU backend runs fast.

`Conv` and `ConvTranspose` compute what `flax.linen.Conv` and
`flax.linen.ConvTranspose` compute with "SAME" padding (TensorFlow's, as the
official HiFiC code uses: TFC `models/hific/archs.py`), with the same
parameter names, shapes and initializers, so checkpoints and bundles are
interchangeable with Flax's layers. `padding="TORCH"` aligns them as PyTorch's
`Conv2d(k, s, padding=k // 2)` and `ConvTranspose2d(k, s, padding=k // 2,
output_padding=s - 1)` (CompressAI `models/utils.py`): the same output sizes
as "SAME", shifted by the padding before the first pixel.

Why: XLA:CPU sends only undilated convolutions with a small window to its fast
kernels (`benchmarks/convs.py` has the figures). Three things fall to a slow
generic loop: a transposed convolution (its forward pass and gradients are
dilated), the input gradient of a strided convolution (dilated), and the
kernel gradient of a stride-1 one at many channels (a "convolution" whose
window is the whole image). On the CPU:
- a transposed convolution runs as a stride-1 convolution with s*s times the
  outputs followed by depth-to-space (the sub-pixel form; Shi et al. 2016,
  "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel CNN", §2.2);
- a strided convolution keeps the native forward pass and kernel gradient
  (faster than its space-to-depth form's), and takes its input gradient from
  the space-to-depth form, where it is a stride-1 convolution;
- stride-1 kernel gradients are one matrix product per kernel tap (from 32
  output channels on; XLA's own is faster for fewer).
Other backends keep the native forms: no accelerator could be measured when
this was written; `benchmarks/convs.py` compares the forms on any backend.
"""

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc import errors

_DIMS = ("NHWC", "HWIO", "NHWC")


def use_cpu_forms() -> bool:
  """Whether this process computes convolutions in the forms of this module (on the CPU)."""
  return jax.default_backend() == "cpu"


# The paddings a conv resolves by name; it also takes explicit `((top, bottom), (left, right))` pairs.
NAMED_PADDINGS = ("SAME", "TORCH")


def conv_padding(size: int, kernel: int, stride: int, padding: str = "SAME") -> tuple[int, int]:
  """`(before, after)` padding of a (strided) convolution with `ceil(size / stride)` outputs.

  "SAME" is TensorFlow's (the odd pixel goes after); "TORCH" pads `kernel // 2` before.
  """
  total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
  before = total // 2 if padding == "SAME" else kernel // 2
  return before, total - before


def transpose_padding(kernel: int, stride: int, padding: str = "SAME") -> tuple[int, int]:
  """Padding of the stride-dilated input in a transposed convolution (lax `conv_transpose`)
  with `stride` times as many outputs as inputs."""
  total = kernel + stride - 2
  if padding == "TORCH":
    before = kernel - 1 - kernel // 2
  else:
    before = kernel - 1 if stride > kernel - 1 else -(-total // 2)
  return before, total - before


def strided_taps(kernel: int, stride: int) -> np.ndarray:
  """`taps[a, b]`: the tap of a stride-`stride` conv that reads phase `b` of
  space-to-depth block `a`; `kernel` (one past the last tap) where none does."""
  blocks = -(-kernel // stride)
  taps = np.arange(blocks * stride).reshape(blocks, stride)
  return np.where(taps < kernel, taps, kernel)


def transposed_taps(kernel: int, stride: int, padding: str = "SAME") -> tuple[np.ndarray, int]:
  """`(taps, first)`: `taps[j, r]` is the tap of a stride-`stride` transposed conv
  by which output phase `r` of input position `i` reads input `i + first + j`
  (`kernel` where none does)."""
  before = transpose_padding(kernel, stride, padding)[0]
  reads = [(r, t, (r + t - before) // stride)
           for r in range(stride) for t in range(kernel) if (r + t - before) % stride == 0]
  offsets = [d for _, _, d in reads] or [0]
  first = min(offsets)
  taps = np.full((max(offsets) - first + 1, stride), kernel)
  for r, t, d in reads:
    taps[d - first, r] = t
  return taps, first


def _gather_taps(kernel: jax.Array, taps_h: np.ndarray, taps_w: np.ndarray) -> jax.Array:
  """`(kh, kw, I, O)` -> `(J_h, J_w, r_h, r_w, I, O)` holding `kernel[taps_h[j, r], taps_w[j', r']]`,
  zero at the sentinel taps."""
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  return padded[taps_h[:, None, :, None], taps_w[None, :, None, :]]


def space_to_depth(x: jax.Array, sh: int, sw: int) -> jax.Array:
  """`(N, H, W, C)` -> `(N, H/sh, W/sw, sh*sw*C)`, channels ordered (row phase, column phase, C)."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // sh, sh, w // sw, sw, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // sh, w // sw, sh * sw * c)


def depth_to_space(x: jax.Array, sh: int, sw: int) -> jax.Array:
  """The inverse of `space_to_depth`."""
  n, h, w, _ = x.shape
  x = x.reshape(n, h, w, sh, sw, -1).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * sh, w * sw, -1)


def _native(x: jax.Array, kernel: jax.Array, strides, padding) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, tuple(strides), padding, dimension_numbers=_DIMS)


# Below this many output channels XLA's own kernel gradient is faster than the
# per-tap products, which are then skinny (measured: 12 outputs, 1.9x slower).
_TAP_PRODUCTS_FROM = 32


@jax.custom_vjp
def conv_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A stride-1 "VALID" convolution whose kernel gradient is one matrix product per tap
  (unless it has few output channels)."""
  return _native(x, kernel, (1, 1), "VALID")


def _conv_valid_fwd(x, kernel):
  return conv_valid(x, kernel), (x, kernel)


def _conv_valid_bwd(residuals, g):
  x, kernel = residuals
  if g.shape[-1] < _TAP_PRODUCTS_FROM:
    return jax.vjp(lambda x, k: _native(x, k, (1, 1), "VALID"), x, kernel)[1](g)
  dx = jax.vjp(lambda x: _native(x, kernel, (1, 1), "VALID"), x)[1](g)[0]
  (kh, kw), (_, ho, wo, _) = kernel.shape[:2], g.shape
  g = g.reshape(-1, g.shape[-1])

  def tap(i, j):
    window = x[:, i:i + ho, j:j + wo].reshape(-1, x.shape[-1])
    return jax.lax.dot_general(window, g, (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)

  dk = jnp.stack([jnp.stack([tap(i, j) for j in range(kw)]) for i in range(kh)])
  return dx, dk.astype(kernel.dtype)


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


Padding = str | tuple[tuple[int, int], tuple[int, int]]


def _pads(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> list[tuple[int, int]]:
  """`[(top, bottom), (left, right)]`: explicit padding as it is, a named one resolved."""
  if not isinstance(padding, str):
    return [tuple(p) for p in padding]
  return [conv_padding(size, k, s, padding) for size, k, s in zip(x.shape[1:3], kernel.shape[:2], strides, strict=True)]


def _space_to_depth_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
  """A strided convolution as space-to-depth, then a stride-1 convolution."""
  (sh, sw), (kh, kw) = strides, kernel.shape[:2]
  taps_h, taps_w = strided_taps(kh, sh), strided_taps(kw, sw)
  pads = []
  for size, k, s, blocks, (before, after) in zip(x.shape[1:3], (kh, kw), strides, (len(taps_h), len(taps_w)),
                                                 _pads(x, kernel, strides, padding), strict=True):
    outputs = (size + before + after - k) // s + 1
    # Whole blocks, enough that every output reads `blocks` of them (a negative
    # side is a crop of pixels no output reads).
    pads.append((before, s * (outputs + blocks - 1) - size - before, 0))
  x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), *pads, (0, 0, 0)))
  k = _gather_taps(kernel, taps_h, taps_w)
  return conv_valid(space_to_depth(x, sh, sw), k.reshape(*k.shape[:2], -1, k.shape[-1]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def strided_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding) -> jax.Array:
  """A strided convolution: the native forward pass and kernel gradient, and the
  space-to-depth form's input gradient."""
  return _native(x, kernel, strides, _pads(x, kernel, strides, padding))


def _strided_fwd(x, kernel, strides, padding):
  return strided_conv(x, kernel, strides, padding), (x, kernel)


def _strided_bwd(strides, padding, residuals, g):
  x, kernel = residuals
  # XLA drops the parts of each form's gradient that are not used.
  dx = jax.vjp(lambda x: _space_to_depth_conv(x, kernel, strides, padding), x)[1](g)[0]
  dk = jax.vjp(lambda k: _native(x, k, strides, _pads(x, k, strides, padding)), kernel)[1](g)[0]
  return dx, dk


strided_conv.defvjp(_strided_fwd, _strided_bwd)


def conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding = "SAME") -> jax.Array:
  """What `nn.Conv` computes with `padding` ("SAME", "TORCH" or explicit `((top, bottom), (left, right))`
  zeros): on the CPU in the forms above."""
  pads = _pads(x, kernel, strides, padding)
  if not use_cpu_forms():
    return _native(x, kernel, strides, pads)
  if strides != (1, 1):
    return strided_conv(x, kernel, strides, tuple(pads))
  return conv_valid(jnp.pad(x, ((0, 0), *pads, (0, 0))), kernel)


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                            padding: str = "SAME") -> jax.Array:
  """A transposed convolution as a stride-1 convolution with sh*sw times
  the outputs (ordered row phase, column phase, O), then depth-to-space."""
  (taps_h, first_h), (taps_w, first_w) = (
      transposed_taps(k, s, padding) for k, s in zip(kernel.shape[:2], strides, strict=True))
  k = _gather_taps(kernel, taps_h, taps_w).transpose(0, 1, 4, 2, 3, 5)
  pads = ((-first_h, len(taps_h) - 1 + first_h), (-first_w, len(taps_w) - 1 + first_w))
  # lax.pad, not jnp.pad: a side may be negative (a crop) for kernels smaller than the stride.
  x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), *((a, b, 0) for a, b in pads), (0, 0, 0)))
  return depth_to_space(conv_valid(x, k.reshape(*k.shape[:3], -1)), *strides)


class _Padded(nn.Module):
  """The fields, parameters and dtype handling Flax's Conv and ConvTranspose share."""

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Padding = "SAME"
  dtype: jnp.dtype = jnp.float32

  def parameters(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Flax's kernel and bias (names, shapes, initializers); all three in the compute dtype."""
    if isinstance(self.padding, str) and self.padding not in NAMED_PADDINGS:
      raise errors.ConfigError(f"{type(self).__name__} supports padding {' or '.join(NAMED_PADDINGS)} or explicit "
                               f"pairs, got {self.padding!r}")
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    return kernel, bias, x


class Conv(_Padded):
  """`nn.Conv(features, kernel_size, strides, padding="SAME")`, or PyTorch-aligned with "TORCH".

  `pad_mode="reflect"` mirrors the image into the padding instead of zeros
  (PyTorch's `ReflectionPad2d`, which the PyTorch HiFiC port uses).
  """

  pad_mode: str = "constant"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel, bias, x = self.parameters(x)
    strides, padding = tuple(self.strides), self.padding
    if self.pad_mode == "reflect":
      pads = _pads(x, kernel, strides, padding)
      x, padding = jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect"), ((0, 0), (0, 0))
    elif self.pad_mode != "constant":
      raise ValueError(f"Conv supports pad_mode constant or reflect, got {self.pad_mode!r}")
    return conv(x, kernel, strides, padding) + bias


class ConvTranspose(_Padded):
  """`nn.ConvTranspose(features, kernel_size, strides, padding="SAME")`, or PyTorch-aligned with "TORCH"."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel, bias, x = self.parameters(x)
    strides = tuple(self.strides)
    if use_cpu_forms():
      y = subpixel_conv_transpose(x, kernel, strides, self.padding)
    else:
      pads = [transpose_padding(k, s, self.padding) for k, s in zip(kernel.shape[:2], strides, strict=True)]
      y = jax.lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=_DIMS)
    return y + bias
