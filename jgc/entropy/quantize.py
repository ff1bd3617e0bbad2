"""Quantization of latents: uniform noise for training, rounding for coding.

Ballé et al. 2018 ("Variational image compression with a scale hyperprior", §2)
replace rounding by additive uniform noise during training; HiFiC (Mentzer et al.
2020, §3.1; TFC `models/hific/archs.py`) feeds the decoder the latent rounded
around the predicted mean with a straight-through gradient.
"""

import jax
import jax.numpy as jnp


def add_uniform_noise(x: jax.Array, key: jax.Array) -> jax.Array:
  """Returns `x + u` with `u ~ U(-1/2, 1/2)`, the training proxy for rounding."""
  return x + jax.random.uniform(key, x.shape, x.dtype, -0.5, 0.5)


def round_ste(x: jax.Array) -> jax.Array:
  """Rounds to the nearest integer; the gradient is the identity."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)


def quantize_around_mean(y: jax.Array, mean: jax.Array) -> jax.Array:
  """`round(y - mean) + mean` with identity gradient for `y` (HiFiC's STE).

  The gradient to `mean` is zero, as in the official code: the mean only moves
  the rounding grid, and it learns through the rate term instead.
  """
  return round_ste(y - mean) + mean


def symbols(y: jax.Array, mean: jax.Array | float = 0.0) -> jax.Array:
  """The integer symbols the entropy coder sees: `round(y - mean)` as int32."""
  return jnp.round(y - mean).astype(jnp.int32)


def dequantize(symbols_: jax.Array, mean: jax.Array | float = 0.0) -> jax.Array:
  """Inverse of `symbols`: the reconstruction `symbols + mean` in float32."""
  return symbols_.astype(jnp.float32) + mean
