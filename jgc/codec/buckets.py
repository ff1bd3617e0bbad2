"""Size buckets: the transforms are compiled once per bucket of image sizes, not once per size.

XLA compiles a transform for every input shape it meets (about a second each
for a small model on a CPU), so a folder of photos of many sizes spent most of
its time compiling, and kept every compilation in memory. The codec rounds
every size up to a multiple of its `bucket_px` and runs the transforms
compiled for that bucket, on the image (or its latents) filled out to it, with
every convolution's input zeroed beyond the image's extent at that resolution
(`zero_beyond`): what the convolutions' zero padding gives at the image's own
size. Where TensorFlow's "SAME" padding of a strided convolution depends on
the parity of its input's size (the hyper-analysis of an odd-sized latent),
the input is moved to match (`align`). So the latents and the decoded pixels
are those of the image's own size (tested for every model family), and the
bucket is not in the file. A model that pads by reflection runs at each
image's own size. `analysis`, `hyper_encoding` and `synthesis` are a model's
transforms run so; the codec compiles them per bucket.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc.models import convs


def round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def pad_image(image: np.ndarray, hw: tuple[int, int], stride: int) -> np.ndarray:
  """`image` reflected at the bottom and right to multiples of `stride` (as the models pad; TFC
  `models/hific/model.py::_pad`), then its last row and column repeated out to `hw`."""
  h, w = image.shape[:2]
  image = np.pad(image, ((0, -h % stride), (0, -w % stride), (0, 0)), mode="reflect")
  return np.pad(image, ((0, hw[0] - image.shape[0]), (0, hw[1] - image.shape[1]), (0, 0)), mode="edge")


def fill(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
  """NHWC `x` with zeros appended below and right, out to `hw`."""
  return np.pad(x, ((0, 0), (0, hw[0] - x.shape[1]), (0, hw[1] - x.shape[2]), (0, 0)))


def extent_at(extent: jax.Array, base_hw: tuple[int, int], hw: tuple[int, int]) -> list[jax.Array]:
  """`extent` (positions of a `base_hw` grid) at a resolution of `hw` positions (a power of two
  finer or coarser): scaled, and rounded up as convolutions round their outputs."""
  return [(e * n + b - 1) // b for e, n, b in zip((extent[0], extent[1]), hw, base_hw, strict=True)]


def mask(x: jax.Array, extent: jax.Array, base_hw: tuple[int, int]) -> jax.Array:
  """NHWC `x` with zeros beyond `extent` (see `extent_at`). `extent` may be traced: one
  compilation serves all."""
  rows, cols = extent_at(extent, base_hw, x.shape[1:3])
  inside = (jnp.arange(x.shape[1]) < rows)[:, None, None] & (jnp.arange(x.shape[2]) < cols)[None, :, None]
  return jnp.where(inside, x, jnp.zeros((), x.dtype))


def _same_before(size: jax.Array, kernel: int, stride: int) -> jax.Array:
  """The padding before a strided "SAME" convolution's input of `size` (TensorFlow's rule;
  `convs.conv_padding`), for a traced size."""
  return jnp.maximum((-(-size // stride) - 1) * stride + kernel - size, 0) // 2


def align(x: jax.Array, extent: jax.Array, base_hw: tuple[int, int], kernel: tuple[int, int],
          strides: tuple[int, int]) -> jax.Array:
  """NHWC `x`, the input of a strided "SAME" convolution, moved down and right so that the
  convolution, padded for `x`'s size, reads what it would read padded for the image's extent:
  TensorFlow pads one more before an input of odd size, so the outputs sample other positions."""
  for axis, (n, k, s) in enumerate(zip(extent_at(extent, base_hw, x.shape[1:3]), kernel, strides, strict=True), 1):
    if s > 1:
      # Buckets are even (`round_up` to even multiples), so the move is 0 or 1, and what comes
      # round from the end is beyond the extent: zeros.
      x = jnp.roll(x, _same_before(n, k, s) - convs.conv_padding(x.shape[axis], k, s)[0], axis)
  return x


@contextlib.contextmanager
def zero_beyond(extent: jax.Array, base_hw: tuple[int, int], aligned: bool = False) -> Iterator[None]:
  """Inside, every convolution of a Flax module zeroes its input beyond `extent` (see `mask`);
  with `aligned`, a strided "SAME" one also aligns it as the image's own size would (see
  `align`). (Above the latent the extents are even, the image being padded to the stride: no
  move, so the analysis goes without the copy.)"""

  def interceptor(next_fun: Callable[..., Any], args: tuple, kwargs: dict,
                  context: nn.module.InterceptorContext) -> Any:
    module = context.module
    if context.method_name == "__call__" and isinstance(module, convs.Conv | convs.ConvTranspose):
      if getattr(module, "pad_mode", "constant") != "constant":
        raise ValueError("a convolution that pads by reflection cannot run in a size bucket")
      x = mask(args[0], extent, base_hw)
      if aligned and isinstance(module, convs.Conv) and module.padding == "SAME":
        x = align(x, extent, base_hw, tuple(module.kernel_size), tuple(module.strides))
      args = (x, *args[1:])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    yield


def analysis(model: nn.Module, method: str, stride: int, zero_padded: bool, variables: dict, x: jax.Array,
              extent: jax.Array) -> jax.Array:
  """The model's analysis of an image padded to a size bucket, every convolution's input zeroed
  beyond the image (`extent`: its latent's size, scaled to each resolution); a model that pads
  otherwise runs at the image's own size."""
  if not zero_padded:
    return model.apply(variables, x, method=method)
  with zero_beyond(extent, (x.shape[1] // stride, x.shape[2] // stride)):
    return model.apply(variables, x, method=method)


def hyper_encoding(model: nn.Module, method: str, zero_padded: bool, variables: dict, y: jax.Array,
                   extent: jax.Array) -> jax.Array:
  """The rest of the model's encoding of a latent filled out to a size bucket, every convolution's
  input zeroed beyond `extent` and a strided "SAME" one's aligned as at the latent's own size."""
  if not zero_padded:
    return model.apply(variables, y, method=method)
  with zero_beyond(extent, y.shape[1:3], aligned=True):
    return model.apply(variables, y, method=method)


def synthesis(model: nn.Module, zero_padded: bool, variables: dict, *args: jax.Array, extent: jax.Array,
              image_hw: tuple[int, int]) -> jax.Array:
  """The model's synthesis of latents filled out to a size bucket, every convolution's input zeroed
  beyond `extent`; a model that pads otherwise runs at its latents' own size."""
  if not zero_padded:
    return model.apply(variables, *args, image_hw=image_hw, method="decode_latents")
  with zero_beyond(extent, args[0].shape[1:3]):
    return model.apply(variables, *args, image_hw=image_hw, method="decode_latents")
