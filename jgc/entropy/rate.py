"""Rates from likelihoods: bits and bits per pixel.

HiFiC (TFC `models/hific/model.py`) divides bits by batch * H * W of the
unpadded image; these helpers keep the batch axis so callers can average or
apply the target-rate rule per image.
"""

import jax
import jax.numpy as jnp


def bits(likelihood: jax.Array) -> jax.Array:
  """Information content `-sum(log2 p)` per batch element, shape `(B,)`."""
  per_element = -jnp.log2(likelihood)
  return per_element.reshape(per_element.shape[0], -1).sum(axis=1)


def bits_per_pixel(likelihood: jax.Array, num_pixels: int) -> jax.Array:
  """Bits per image pixel, shape `(B,)`; `num_pixels` is H * W of the unpadded image."""
  return bits(likelihood) / num_pixels
