"""The HiFiC-family encoder E and generator G, which HiFiC, GC and VAE-GAN share, and the zoo's `FACTOR`.

E and G are HiFiC's (Mentzer et al. 2020, Fig. 2; layer sizes from TFC
`models/hific/archs.py`). GC (Agustsson et al. 2019), whose generator HiFiC
refined, and VAE-GAN run the same code.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc import errors
from jgc.models.convs import Conv, ConvTranspose
from jgc.models.layers import ChannelNorm

# Pixels per latent position along each side, for every model of the zoo: E's four stride-2
# convs here, as the GDN analysis' four in `hyperprior.py`. Hyper-latents are cropped to the
# latent's size, so images are padded to this and no further.
FACTOR = 16
# How E and G pad: as TFC does ("SAME" zeros), as the PyTorch HiFiC port does ("REFLECT"), or as
# NeuralCompression's HiFiC (MS-ILLM) does ("TORCH": zeros, PyTorch's alignment).
HIFIC_PADDINGS = ("SAME", "REFLECT", "TORCH")
# `analysis_radius` of E: its 7x7 conv reads 3 pixels on either side, its four stride-2 3x3
# convs 1, 2, 4 and 8 pixels, its last 3x3 one latent (16 pixels): 34 pixels, within 3 positions.
ENCODER_RADIUS = 3


def generator_radius(num_residual_blocks: int) -> int:
  """`synthesis_radius` of G: its 3x3 convs at the latent's resolution reach one position each,
  the four upsampling 3x3 convs and the final 7x7 together less than three (1 + 1/2 + 1/4 + 1/8 + 3/16)."""
  return 2 * num_residual_blocks + 1 + 3


def _conv(features: int, kernel: int, stride: int, padding: str, dtype: jnp.dtype) -> Conv:
  """A conv of E or G padded as TFC pads it ("SAME" zeros), as the PyTorch port does
  ("REFLECT": `ReflectionPad2d` by k // 2 around stride-1 convs, and by one row above and
  one column right of stride-2 ones; its `network/encoder.py`, `network/generator.py`), or as
  NeuralCompression does ("TORCH": `Conv2d(padding=k // 2)` zeros, which put the odd pixel of a
  stride-2 conv's padding before where "SAME" puts it after; its
  `neuralcompression/models/_hific_encoder_decoder.py:41-62`)."""
  if padding in ("SAME", "TORCH"):
    return Conv(features, (kernel, kernel), (stride, stride), padding=padding, dtype=dtype)
  if padding == "REFLECT":
    return Conv(features, (kernel, kernel), (stride, stride), padding=((1, 0), (0, 1)) if stride == 2 else "TORCH",
                pad_mode="reflect", dtype=dtype)
  raise errors.ConfigError(f"HiFiC padding is one of {HIFIC_PADDINGS}, got {padding!r}")


def torch_aligned(padding: str) -> str:
  """The padding of G's transposed convs and of HiFiC's hyper transforms, given E's and G's: the
  PyTorch port's are PyTorch-aligned (`network/generator.py`, `network/hyper.py`), and so are
  NeuralCompression's (`_hific_encoder_decoder.py:126-133`, `_hific_autoencoder.py:20-44`)."""
  return "TORCH" if padding in ("REFLECT", "TORCH") else "SAME"


class _Transform(nn.Module):
  """What E and G share: their convolutions' dtype (their outputs are float32) and padding."""

  dtype: jnp.dtype = jnp.float32
  padding: str = "SAME"  # one of HIFIC_PADDINGS


class Encoder(_Transform):
  """E: 7x7 conv, four stride-2 3x3 convs, each with ChannelNorm + ReLU, then 3x3 to the latent."""

  channels: Sequence[int] = (60, 120, 240, 480, 960)
  latent_channels: int = 220

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, c in enumerate(self.channels):
      x = _conv(c, 7 if i == 0 else 3, 1 if i == 0 else 2, self.padding, self.dtype)(x)
      x = nn.relu(ChannelNorm()(x))
    return _conv(self.latent_channels, 3, 1, self.padding, self.dtype)(x).astype(jnp.float32)


class ResidualBlock(nn.Module):
  """conv, ChannelNorm, ReLU, conv, ChannelNorm, plus the input (TFC `archs.py::ResidualBlock`)."""

  dtype: jnp.dtype = jnp.float32
  padding: str = "SAME"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    h = nn.relu(ChannelNorm()(_conv(c, 3, 1, self.padding, self.dtype)(x)))
    h = ChannelNorm()(_conv(c, 3, 1, self.padding, self.dtype)(h))
    return x + h


class Generator(_Transform):
  """G: ChannelNorm, 3x3 conv, ChannelNorm, residual blocks with a global skip,
  four stride-2 transposed convs with ChannelNorm + ReLU, and a 7x7 conv to RGB.

  Outputs an image on the [0, 1] scale, unclipped (training sees the raw
  values; clipping belongs to evaluation, as in TFC `model.py`).
  """

  channels: Sequence[int] = (960, 480, 240, 120, 60)
  num_residual_blocks: int = 9

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    head = ChannelNorm()(y)
    head = ChannelNorm()(_conv(self.channels[0], 3, 1, self.padding, self.dtype)(head))
    x = head
    for _ in range(self.num_residual_blocks):
      x = ResidualBlock(self.dtype, self.padding)(x)
    x = x + head
    for c in self.channels[1:]:
      x = ConvTranspose(c, (3, 3), (2, 2), padding=torch_aligned(self.padding), dtype=self.dtype)(x)
      x = nn.relu(ChannelNorm()(x))
    return _conv(3, 7, 1, self.padding, self.dtype)(x).astype(jnp.float32)


class WithTransforms(nn.Module):
  """The fields of a model built on HiFiC's E and G (HiFiC, GC, VAE-GAN), at the paper's widths."""

  encoder_channels: Sequence[int] = (60, 120, 240, 480, 960)
  generator_channels: Sequence[int] = (960, 480, 240, 120, 60)
  num_residual_blocks: int = 9
  dtype: jnp.dtype = jnp.float32  # of E's and G's convolutions
