"""Hyper-analysis and hyper-synthesis transforms (Ballé 2018 §3; Minnen 2018 §2).

HiFiC uses them with 320 channels and ReLU (TFC `models/hific/archs.py`);
mbt2018 with LeakyReLU and widths M, 3M/2 (CompressAI `models/google.py`).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax

from jgc.entropy import bits
from jgc.models.convs import Conv, ConvTranspose
from jgc.models.layers import leaky_relu

_ACTIVATIONS = {"relu": nn.relu, "leaky_relu": leaky_relu}


class HyperAnalysis(nn.Module):
  """3x3 conv, then two 5x5 stride-2 convs, with activations between them."""

  channels: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    act = _ACTIVATIONS[self.activation]
    z = act(Conv(self.channels, (3, 3), padding="SAME")(y))
    z = act(Conv(self.channels, (5, 5), (2, 2), padding="SAME")(z))
    return Conv(self.channels, (5, 5), (2, 2), padding="SAME")(z)


class HyperSynthesis(nn.Module):
  """Two 5x5 stride-2 transposed convs with activations, then a 3x3 conv."""

  channels: Sequence[int]
  out_channels: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    act = _ACTIVATIONS[self.activation]
    for c in self.channels:
      z = act(ConvTranspose(c, (5, 5), (2, 2), padding="SAME")(z))
    return Conv(self.out_channels, (3, 3), padding="SAME")(z)


def hyperprior_aux(*, latents, quantized, likelihoods, rounded_likelihoods, mean, scale) -> dict:
  """The `aux` of a two-level (y, z) model; each pair is `(for y, for z)`."""
  return {
      "latents": _pair(latents),
      "quantized": _pair(quantized),
      "bits": _pair(likelihoods, bits),
      "bits_rounded": _pair(rounded_likelihoods, bits),
      "mean": mean,
      "scale": scale,
  }


def _pair(values, f=lambda v: v) -> dict:
  return {"y": f(values[0]), "z": f(values[1])}
