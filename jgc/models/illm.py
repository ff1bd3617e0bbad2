"""MS-ILLM's discriminator and the frozen VQ-VAE that labels its targets (Muckley et al., ICML 2023,
"Improving Statistical Fidelity for Neural Image Compression with Implicit Local Likelihood Models", §3.2).

D is the OASIS U-Net (Sushko et al. 2021) cut off at 1/8 of the image size, conditioned on the
quantized latent (NC `neuralcompression/models/_unet_discriminator.py`, `ConditionalUnetDiscriminator`).
Its 1 + K logits per 8x8 patch score "fake" (class 0) against the K codes of a VQ-VAE's codebook; on a
real image the target of each patch is the code the frozen VQ-VAE's encoder picks for it
(NC `models/_vqvae_projector.py` over `_vqvae_xcit_autoencoder.py`; `layers/_xca.py`,
`_project_latent.py`, `_normalize_latent.py`, `_q_bottleneck.py`).
"""

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc import errors
from jgc.models.convs import Conv
from jgc.models.layers import ChannelNorm, leaky_relu


def _pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), (2, 2))


def _upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _nearest(x: jax.Array, h: int, w: int) -> jax.Array:
  """PyTorch's `interpolate(mode="nearest")` to `(h, w)`: output pixel i reads input pixel floor(i * in / out)."""
  rows = jnp.arange(h) * x.shape[1] // h
  cols = jnp.arange(w) * x.shape[2] // w
  return x[:, rows][:, :, cols]


class _Down(nn.Module):
  """A U-Net level's way down: two 3x3 convs and a 2x2 average pool, plus a pooled (1x1-conv) shortcut.

  Below the top level the input is first passed through LeakyReLU; NC applies it in place, so its
  shortcut sees the activated input as well (with `norm_type="identity"`, the config MS-ILLM uses).
  """

  features: int
  top: bool
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if not self.top:
      x = leaky_relu(x)
    h = Conv(self.features, (3, 3), dtype=self.dtype, name="conv_0")(x)
    h = Conv(self.features, (3, 3), dtype=self.dtype, name="conv_1")(leaky_relu(h))
    if x.shape[-1] != self.features:
      x = Conv(self.features, (1, 1), dtype=self.dtype, name="shortcut")(x)
    return _pool(h) + _pool(x)


class _Up(nn.Module):
  """A U-Net level's way up: LeakyReLU (in place in NC, so the shortcut sees it too), 2x nearest
  upsampling and two 3x3 convs, plus an upsampled (1x1-conv) shortcut."""

  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = leaky_relu(x)
    h = Conv(self.features, (3, 3), dtype=self.dtype, name="conv_0")(_upsample(x))
    h = Conv(self.features, (3, 3), dtype=self.dtype, name="conv_1")(leaky_relu(h))
    if x.shape[-1] != self.features:
      x = Conv(self.features, (1, 1), dtype=self.dtype, name="shortcut")(x)
    return h + _upsample(x)


class ConditionalUnetDiscriminator(nn.Module):
  """MS-ILLM's D (§3.2; NC `ConditionalUnetDiscriminator`, config `condunet_ch1025_factor8_context220`).

  The quantized latent (gradient stopped) goes through a reflect-padded 3x3 conv to `context_channels`
  and LeakyReLU 0.2, is resized to the image by nearest neighbour and concatenated with the image (in
  [0, 1], as NC feeds it). The U-Net halves the size at each of `channels`' levels (no skip
  connections); the deepest `len(channels) - log2(output_factor)` levels double it again on the way
  back, the last of them to `hidden_channels` (NC: 64), and a 1x1 conv gives `output_channels` logits per
  pixel at 1/`output_factor` of the image size. No normalization (NC's `norm_type="identity"`), no
  spectral norm. Logits come out as a one-element list `[(B, H/f, W/f, output_channels)]`; the
  features are the map before the last conv.
  """

  channels: Sequence[int] = (128, 128, 256, 256, 512, 512)
  output_channels: int = 1025
  output_factor: int = 8
  context_channels: int = 16
  hidden_channels: int = 64
  dtype: jnp.dtype = jnp.float32

  def _num_up(self) -> int:
    levels = len(self.channels)
    down = int(math.log2(self.output_factor)) if self.output_factor > 0 else -1
    # NC's U-Net only builds when the first level coming up is below the top one (2 <= log2 f < levels).
    if 2**down != self.output_factor or not 2 <= down < levels:
      raise errors.ConfigError(f"output_factor {self.output_factor} must be a power of 2 from 4 to "
                               f"2^{levels - 1} for {levels} U-Net levels")
    return levels - down

  @nn.compact
  def __call__(self, x: jax.Array, y_hat: jax.Array, *, train: bool):
    del train  # no normalization statistics
    num_up, levels = self._num_up(), len(self.channels)
    context = jnp.pad(jax.lax.stop_gradient(y_hat), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    context = leaky_relu(Conv(self.context_channels, (3, 3), padding=((0, 0), (0, 0)), dtype=self.dtype,
                              name="context")(context))
    h = jnp.concatenate([x.astype(context.dtype), _nearest(context, *x.shape[1:3])], axis=-1)
    for i, features in enumerate(self.channels):
      h = _Down(features, top=i == 0, dtype=self.dtype, name=f"down_{i}")(h)
    for i in range(levels - 1, levels - 1 - num_up, -1):
      # Each level comes back to its own input width; the last one up to `hidden_channels`.
      features = self.hidden_channels if i == levels - num_up else self.channels[i - 1]
      h = _Up(features, dtype=self.dtype, name=f"up_{i}")(h)
    logits = Conv(self.output_channels, (1, 1), dtype=self.dtype, name="head")(h)
    return [logits.astype(jnp.float32)], [h.astype(jnp.float32)]


def _swish(x: jax.Array) -> jax.Array:
  return x * jax.nn.sigmoid(x)


def _unit(x: jax.Array, axis: int) -> jax.Array:
  """PyTorch's `F.normalize`: x over its L2 norm along `axis`, the norm floored at 1e-12."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


class _ResnetBlock(nn.Module):
  """ChannelNorm, swish, 3x3 conv, twice, plus a 1x1-conv shortcut where the width changes (NC `_ResnetBlock`)."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = Conv(self.features, (3, 3), name="conv_0")(_swish(ChannelNorm(name="norm_0")(x)))
    h = Conv(self.features, (3, 3), name="conv_1")(_swish(ChannelNorm(name="norm_1")(h)))
    if x.shape[-1] != self.features:
      x = Conv(self.features, (1, 1), name="shortcut")(x)
    return x + h


class _XCABlock(nn.Module):
  """Residual cross-covariance attention with one head (El-Nouby et al. 2021, XCiT §3.1; NC `_AttnBlock`
  and `layers/_xca.py`): the C x C attention between L2-normalized (over pixels) queries and keys,
  scaled by a learned temperature, mixes the value channels at every pixel."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    tokens = ChannelNorm(name="norm")(x).reshape(b, h * w, c)
    q, k, v = jnp.split(nn.Dense(3 * c, name="qkv")(tokens), 3, axis=-1)
    temperature = self.param("temperature", nn.initializers.ones, (1,))
    attention = jnp.einsum("bnc,bnd->bcd", _unit(q, 1), _unit(k, 1)) * temperature
    mixed = jnp.einsum("bcd,bnd->bnc", jax.nn.softmax(attention, axis=-1), v)
    return x + nn.Dense(c, name="proj")(mixed).reshape(b, h, w, c)


class VQLabeler(nn.Module):
  """MS-ILLM's target labels (§3.2; NC `VqVaeProjector` of `vqvae_xcit_p8_ch64_cb1024_h8`): the index of the
  codebook entry nearest to each 8x8 patch's projected, normalized VQ-VAE encoding.

  The encoder is NC's `_VqVaeXCiTConvEncoder` with ChannelNorm: a 3x3 conv to `channels`, then per level
  `num_res_blocks` residual blocks to `channels * channel_multipliers[level]` (each followed by XCiT
  attention on `attention_levels`) and, but after the last level, a stride-2 3x3 conv on the image
  padded by one zero row and column at the bottom and right; then residual block, attention,
  residual block, ChannelNorm, swish and a 3x3 conv to `embed_channels`. A 1x1 conv projects to
  `code_channels`, which are L2-normalized, as are the `codebook_size` codes; the nearest code in
  Euclidean distance is the one of largest inner product. Images NHWC in [0, 1] (NC feeds them
  unnormalized); labels `(B, H / 2^(levels - 1), W / ...)` int32. Frozen: only ever applied.
  """

  channels: int = 64
  channel_multipliers: Sequence[int] = (1, 2, 2, 4)
  num_res_blocks: int = 2
  attention_levels: Sequence[int] = (3,)  # NC: attention at resolution 32 of a nominal 256
  embed_channels: int = 256
  code_channels: int = 8
  codebook_size: int = 1024

  @property
  def factor(self) -> int:
    return 2 ** (len(self.channel_multipliers) - 1)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = Conv(self.channels, (3, 3), name="conv_in")(x)
    last = len(self.channel_multipliers) - 1
    for level, multiplier in enumerate(self.channel_multipliers):
      for block in range(self.num_res_blocks):
        h = _ResnetBlock(self.channels * multiplier, name=f"level_{level}_block_{block}")(h)
        if level in self.attention_levels:
          h = _XCABlock(name=f"level_{level}_attention_{block}")(h)
      if level != last:
        h = Conv(h.shape[-1], (3, 3), (2, 2), padding=((0, 1), (0, 1)), name=f"level_{level}_down")(h)
    h = _ResnetBlock(h.shape[-1], name="mid_block_0")(h)
    h = _XCABlock(name="mid_attention")(h)
    h = _ResnetBlock(h.shape[-1], name="mid_block_1")(h)
    h = Conv(self.embed_channels, (3, 3), name="conv_out")(_swish(ChannelNorm(name="norm_out")(h)))
    codes = _unit(Conv(self.code_channels, (1, 1), name="project")(h), -1)
    codebook = self.param("codebook", nn.initializers.normal(1.0), (self.codebook_size, self.code_channels))
    return jnp.argmax(codes @ _unit(codebook, -1).T, axis=-1).astype(jnp.int32)
