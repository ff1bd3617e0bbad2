"""Size buckets: the transforms are compiled once per bucket of image sizes, not once per size.

XLA compiles a transform for every input shape it meets (about a second each
for a small model on a CPU), so a folder of photos of many sizes spent most of
its time compiling. The codec rounds every size up to a multiple of
`bucket_px` and runs the transforms compiled for that bucket; the file is
unchanged in kind, holding the latents of the image's own size:
- the encoder pads the image to the bucket (reflected to the model's stride,
  as the models pad, then the last row and column repeated), runs the
  analysis, and keeps the latents of the image's own size. Those nearest the
  bottom and right edges saw the padding where the analysis of the image alone
  sees its convolutions' zeros: other latents, no worse, and decoded alike.
- the decoder fills the latents out to the bucket and runs the synthesis with
  every convolution's input zeroed beyond the image's extent at that
  resolution (`zero_beyond`). That is what the convolutions' zero padding
  gives the synthesis of the image's own size, so the pixels are the same
  (tested). A model whose synthesis pads otherwise (reflection) is decoded at
  its own size.
"""

import contextlib
from collections.abc import Iterator

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


def mask(x: jax.Array, extent: jax.Array, base_hw: tuple[int, int]) -> jax.Array:
  """NHWC `x` (at an integer multiple of `base_hw`) with zeros beyond `extent` (positions at
  `base_hw`), scaled to its resolution. `extent` may be traced: one compilation serves all."""
  factors = [size // base for size, base in zip(x.shape[1:3], base_hw, strict=True)]
  if any(size != base * f for size, base, f in zip(x.shape[1:3], base_hw, factors, strict=True)):
    raise ValueError(f"a synthesis input of {x.shape[1:3]} is not a multiple of the latent's {base_hw}")
  rows = jnp.arange(x.shape[1]) < extent[0] * factors[0]
  cols = jnp.arange(x.shape[2]) < extent[1] * factors[1]
  return jnp.where(rows[:, None, None] & cols[None, :, None], x, jnp.zeros((), x.dtype))


@contextlib.contextmanager
def zero_beyond(extent: jax.Array, base_hw: tuple[int, int]) -> Iterator[None]:
  """Inside, every convolution of a Flax module zeroes its input beyond `extent` (see `mask`)."""

  def interceptor(next_fun, args, kwargs, context):
    if context.method_name == "__call__" and isinstance(context.module, convs.Conv | convs.ConvTranspose):
      if getattr(context.module, "pad_mode", "constant") != "constant":
        raise ValueError("a convolution that pads by reflection cannot run in a size bucket")
      args = (mask(args[0], extent, base_hw), *args[1:])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(interceptor):
    yield
