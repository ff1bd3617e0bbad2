"""Discriminators. Each returns `(logits, features)`: a list of patch-logit maps
(one per scale) and a flat list of hidden activations for feature matching or
a learned similarity. Each takes the image and the quantized latent; the
unconditional ones ignore the latent. `dtype` sets the convolutions' compute
type; logits and features come out float32 for the losses.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc.models.convs import Conv
from jgc.models.layers import SNConv, leaky_relu
from jgc.models.lpips import alexnet_features


class ConditionalPatchDiscriminator(nn.Module):
  """HiFiC's conditional PatchGAN D (§3.1; TFC `archs.py::_PatchDiscriminatorCompareGANImpl`).

  The quantized latent (gradient stopped) goes through a 3x3 conv to 12
  channels, LeakyReLU, and nearest-neighbour upsampling to the image size, and
  is concatenated with the image; then 4x4 convs to 64, 128, 256 (stride 2),
  512 and 1 (stride 1); spectral norm on every conv; LeakyReLU 0.2.
  """

  channels: Sequence[int] = (64, 128, 256, 512)
  condition_channels: int = 12
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, y_hat: jax.Array, *, train: bool):
    h, w = x.shape[1:3]
    c = SNConv(self.condition_channels, 3, dtype=self.dtype)(jax.lax.stop_gradient(y_hat), train=train)
    c = leaky_relu(c)
    c = jnp.repeat(jnp.repeat(c, -(-h // c.shape[1]), axis=1), -(-w // c.shape[2]), axis=2)
    x = jnp.concatenate([x.astype(c.dtype), c[:, :h, :w]], axis=-1)
    features = []
    for i, ch in enumerate(self.channels):
      x = leaky_relu(SNConv(ch, 4, 2 if i < len(self.channels) - 1 else 1, dtype=self.dtype)(x, train=train))
      features.append(x)
    return _float32([SNConv(1, 4, dtype=self.dtype)(x, train=train)]), _float32(features)


class PatchDiscriminator(nn.Module):
  """pix2pixHD's PatchGAN: 4x4 convs C64 (no norm), C128, C256 (stride 2),
  C512 (stride 1) with InstanceNorm and LeakyReLU 0.2, then a 1-channel conv."""

  channels: Sequence[int] = (64, 128, 256, 512)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array):
    features = []
    for i, ch in enumerate(self.channels):
      x = Conv(ch, (4, 4), (2, 2) if i < len(self.channels) - 1 else (1, 1), padding="SAME",
               dtype=self.dtype)(x)
      if i > 0:
        x = nn.InstanceNorm(dtype=self.dtype)(x)
      x = leaky_relu(x)
      features.append(x)
    return Conv(1, (4, 4), padding="SAME", dtype=self.dtype)(x), features


class MultiScaleDiscriminator(nn.Module):
  """GC's D (Agustsson et al. 2019 §3; pix2pixHD, Wang et al. 2018): PatchGANs
  on the image and on 2x and 4x average-pooled copies."""

  channels: Sequence[int] = (64, 128, 256, 512)
  num_scales: int = 3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, y_hat: jax.Array, *, train: bool):
    del y_hat, train  # unconditional; no state to update
    logits, features = [], []
    for s in range(self.num_scales):
      if s:
        x = nn.avg_pool(x, (3, 3), (2, 2), padding="SAME", count_include_pad=False)
      out, feats = PatchDiscriminator(self.channels, self.dtype)(x)
      logits.append(out)
      features.extend(feats)
    return _float32(logits), _float32(features)


class FeatureDiscriminator(nn.Module):
  """VAE-GAN's D (Larsen et al. 2016 §2.2): its hidden layer `feature_layer`
  is the representation in which reconstructions are compared.

  With `pretrained_features`, a frozen AlexNet (LPIPS's weights) first maps
  the image to its conv-2 features: the "fixed, stable module" that keeps the
  learned similarity from drifting while D trains.
  """

  channels: Sequence[int] = (64, 128, 256, 256)
  feature_layer: int = 2
  pretrained_features: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, y_hat: jax.Array, *, train: bool):
    del y_hat, train
    if self.pretrained_features:
      x = alexnet_features(x)[1]
    features = []
    for ch in self.channels:
      x = leaky_relu(Conv(ch, (4, 4), (2, 2), padding="SAME", dtype=self.dtype)(x))
      features.append(x)
    logits = nn.Dense(1, dtype=self.dtype)(x.mean(axis=(1, 2)))
    return _float32([logits]), _float32([features[self.feature_layer]])


def _float32(arrays: list[jax.Array]) -> list[jax.Array]:
  return [a.astype(jnp.float32) for a in arrays]
