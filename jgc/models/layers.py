"""Layers shared by the model zoo.

Convolutions use "SAME" padding, which matches TensorFlow's (for even
sizes at stride 2 the extra row and column go bottom/right), as in the
official HiFiC code (TFC `models/hific/archs.py`, `padding="same"`), in the
forms of `jgc.models.convs`.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc.entropy import lower_bound
from jgc.models import convs

leaky_relu = functools.partial(nn.leaky_relu, negative_slope=0.2)


class ChannelNorm(nn.Module):
  """Normalizes each pixel over its channels (HiFiC §3.1, TFC `archs.py::ChannelNorm`).

  Unbiased variance around a stop-gradient mean, epsilon 1e-3, learned
  per-channel scale and offset. Unlike InstanceNorm it does not depend on the
  image size, so 256-px training crops transfer to full-resolution images.
  """

  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # Statistics in float32 also when the convolutions run in bfloat16.
    dtype, x = x.dtype, x.astype(jnp.float32)
    c = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - jax.lax.stop_gradient(mean)) ** 2).sum(axis=-1, keepdims=True) / max(c - 1, 1)
    gamma = self.param("scale", nn.initializers.ones, (c,))
    beta = self.param("bias", nn.initializers.zeros, (c,))
    return ((x - mean) * jax.lax.rsqrt(var + self.epsilon) * gamma + beta).astype(dtype)


class GDN(nn.Module):
  """Generalized divisive normalization (Ballé et al. 2016, "End-to-end optimized image compression").

  `y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`; the inverse (IGDN)
  multiplies instead. beta and gamma are stored as square roots offset by a
  small pedestal and lower-bounded, so they stay positive and keep gradients
  (TFC `layers/gdn.py`).
  """

  inverse: bool = False
  beta_min: float = 1e-6
  gamma_init: float = 0.1
  reparam_offset: float = 2.0**-18

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    pedestal = self.reparam_offset**2
    beta_bound = float(np.sqrt(self.beta_min + pedestal))
    gamma_bound = self.reparam_offset
    beta_p = self.param("beta", nn.initializers.constant(np.sqrt(1.0 + pedestal)), (c,))
    gamma_p = self.param(
        "gamma", lambda _, s: jnp.sqrt(self.gamma_init * jnp.eye(s[0]) + pedestal), (c, c))
    beta = lower_bound(beta_p, beta_bound) ** 2 - pedestal
    gamma = lower_bound(gamma_p, gamma_bound) ** 2 - pedestal
    # The normalization in float32 also when the convolutions run in bfloat16, where
    # the sum of squares over channels would round away its small terms.
    dtype, x = x.dtype, x.astype(jnp.float32)
    norm = jnp.sqrt(jnp.einsum("...j,ij->...i", x * x, gamma) + beta)
    return (x * norm if self.inverse else x / norm).astype(dtype)


class MaskedConv(nn.Module):
  """Type-A masked convolution for autoregressive context (Minnen 2018 §2; van den Oord 2016).

  The output at a position sees only positions strictly before it in raster
  order: rows above, and the same row to the left. Never itself.
  """

  features: int
  kernel_size: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param(
        "kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    masked = kernel * causal_mask(k)[:, :, None, None]
    return convs.conv(x, masked, (1, 1)) + bias


def causal_mask(k: int) -> jnp.ndarray:
  """`(k, k)` mask: 1 strictly before the centre in raster order, else 0."""
  m = np.zeros((k, k), np.float32)
  m[: k // 2, :] = 1
  m[k // 2, : k // 2] = 1
  return jnp.asarray(m)


class SNConv(nn.Module):
  """A convolution with spectral normalization (Miyato et al. 2018).

  HiFiC's discriminator puts it on every conv (TFC `archs.py`, compare_gan
  `spectral_norm=True`). One power iteration per training step; the
  estimate lives in the "batch_stats" collection.
  """

  features: int
  kernel_size: int
  strides: int = 1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv = convs.Conv(self.features, (self.kernel_size,) * 2, (self.strides,) * 2, padding="SAME", dtype=self.dtype)
    return nn.SpectralNorm(conv)(x, update_stats=train)
