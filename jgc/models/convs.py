"""Transposed convolutions computed through stride-1 convolutions (the sub-pixel form).

`ConvTranspose` computes what `flax.linen.ConvTranspose` computes with "SAME"
padding (TensorFlow's, as the official HiFiC code uses: TFC
`models/hific/archs.py`), with the same parameter names, shapes and
initializer, so checkpoints and bundles are interchangeable with Flax's layer.

Why: XLA's CPU backend sends only undilated convolutions to its fast kernels.
A transposed convolution's forward pass and both its gradients are dilated
convolutions; its kernel gradient falls to a generic loop 10-100x slower
(`benchmarks/convs.py`). As a stride-1 convolution with s*s times the outputs
followed by depth-to-space (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel CNN", §2.2), it and its
gradients are all undilated. Strided convolutions keep Flax's native form
everywhere: their space-to-depth form measured slower on the CPU (same
benchmark). Other backends keep the native transposed form: no accelerator
could be measured when this was written, and `benchmarks/convs.py` compares
both forms on whatever backend it runs on.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_DIMS = ("NHWC", "HWIO", "NHWC")


def use_subpixel_form() -> bool:
  """Whether this process computes transposed convs in sub-pixel form."""
  return jax.default_backend() == "cpu"


def transpose_padding(kernel: int, stride: int) -> tuple[int, int]:
  """Padding of the stride-dilated input in a "SAME" transposed convolution (lax `conv_transpose`)."""
  total = kernel + stride - 2
  before = kernel - 1 if stride > kernel - 1 else -(-total // 2)
  return before, total - before


def transposed_taps(kernel: int, stride: int) -> tuple[np.ndarray, int]:
  """`(taps, first)`: `taps[j, r]` is the tap of a stride-`stride` transposed conv
  by which output phase `r` of input position `i` reads input `i + first + j`
  (`kernel` where none does)."""
  before = transpose_padding(kernel, stride)[0]
  reads = [(r, t, (r + t - before) // stride)
           for r in range(stride) for t in range(kernel) if (r + t - before) % stride == 0]
  offsets = [d for _, _, d in reads] or [0]
  first = min(offsets)
  taps = np.full((max(offsets) - first + 1, stride), kernel)
  for r, t, d in reads:
    taps[d - first, r] = t
  return taps, first


def subpixel_kernel(kernel: jax.Array, strides: Sequence[int]) -> tuple[jax.Array, tuple]:
  """A transposed conv's `(kh, kw, I, O)` kernel as a stride-1 conv's `(J_h, J_w, I, s_h*s_w*O)`
  (outputs ordered row phase, column phase, O), and the input padding `((before, after), ...)`
  that stride-1 "VALID" conv needs."""
  (taps_h, first_h), (taps_w, first_w) = (transposed_taps(k, s) for k, s in zip(kernel.shape[:2], strides))
  padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # the sentinel tap reads zeros
  k = padded[taps_h[:, None, :, None], taps_w[None, :, None, :]].transpose(0, 1, 4, 2, 3, 5)
  pads = ((-first_h, len(taps_h) - 1 + first_h), (-first_w, len(taps_w) - 1 + first_w))
  return k.reshape(*k.shape[:3], -1), pads


def depth_to_space(x: jax.Array, sh: int, sw: int) -> jax.Array:
  """`(N, H, W, sh*sw*C)`, channels ordered (row phase, column phase, C) -> `(N, H*sh, W*sw, C)`."""
  n, h, w, _ = x.shape
  x = x.reshape(n, h, w, sh, sw, -1).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * sh, w * sw, -1)


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array, strides: Sequence[int]) -> jax.Array:
  """A "SAME" transposed convolution as a stride-1 convolution, then depth-to-space."""
  k, pads = subpixel_kernel(kernel, strides)
  # lax.pad, not jnp.pad: a side may be negative (a crop) for kernels smaller than the stride.
  x = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), *((a, b, 0) for a, b in pads), (0, 0, 0)))
  y = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=_DIMS)
  return depth_to_space(y, *strides)


class ConvTranspose(nn.Module):
  """`nn.ConvTranspose(features, kernel_size, strides, padding="SAME")`, in sub-pixel form on the CPU."""

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = "SAME"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.padding != "SAME":
      raise ValueError(f"ConvTranspose supports only SAME padding, got {self.padding!r}")
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    if use_subpixel_form():
      y = subpixel_conv_transpose(x, kernel, self.strides)
    else:
      y = jax.lax.conv_transpose(x, kernel, tuple(self.strides), "SAME", dimension_numbers=_DIMS)
    return y + bias
