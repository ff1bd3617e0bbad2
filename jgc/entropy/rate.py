"""Rates from likelihoods: bits per image.

HiFiC (TFC `models/hific/model.py`) divides bits by batch * H * W of the
unpadded image; `bits` keeps the batch axis so callers can average or apply
the target-rate rule per image (`jgc.training.losses.bits_per_pixel`).
"""

import jax
import jax.numpy as jnp


def bits(likelihood: jax.Array) -> jax.Array:
  """Information content `-sum(log2 p)` per batch element, shape `(B,)`."""
  per_element = -jnp.log2(likelihood)
  return per_element.reshape(per_element.shape[0], -1).sum(axis=1)

