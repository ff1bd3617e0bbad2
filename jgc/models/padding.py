"""Any image size: reflect-pad to a model's factor, crop back afterwards.

HiFiC pads the image to a multiple of 16 by reflection (TFC
`models/hific/model.py::_pad`) and crops the reconstruction; hyper-synthesis
outputs are cropped to the latent's size, so the image needs no padding to 64.
"""

import jax
import jax.numpy as jnp


def pad_to_multiple(x: jax.Array, factor: int) -> jax.Array:
  """Reflect-pads NHWC `x` at the bottom and right to multiples of `factor`."""
  h, w = x.shape[1:3]
  ph, pw = -h % factor, -w % factor
  if ph == 0 and pw == 0:
    return x
  # jnp's reflect repeats the reflection past the edge, so even 1x1 images pad.
  return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")


def crop_to(x: jax.Array, height: int, width: int) -> jax.Array:
  """The top-left `height x width` of NHWC `x`."""
  return x[:, :height, :width, :]

