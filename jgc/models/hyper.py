"""Hyper-analysis and hyper-synthesis transforms (Ballé 2018 §3; Minnen 2018 §2), and a (y, z) model's `aux`.

HiFiC uses them with 320 channels and ReLU (TFC `models/hific/archs.py`);
mbt2018 with LeakyReLU and widths M, 3M/2 (CompressAI `models/google.py`).
"""

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgc.entropy import bits
from jgc.models.convs import Conv, ConvTranspose

Pair = tuple[jax.Array, jax.Array]  # (for y, for z)


def activation(name: str, negative_slope: float = 0.2) -> Callable[[jax.Array], jax.Array]:
  """"relu" or "leaky_relu" (jgc's slope 0.2; CompressAI's models use PyTorch's 0.01)."""
  if name == "relu":
    return nn.relu
  if name == "leaky_relu":
    return functools.partial(nn.leaky_relu, negative_slope=negative_slope)
  raise ValueError(f"unknown activation {name!r}; expected relu or leaky_relu")


class HyperAnalysis(nn.Module):
  """3x3 conv, then two 5x5 stride-2 convs, with activations between them."""

  channels: int
  activation: str = "relu"
  negative_slope: float = 0.2
  padding: str = "SAME"
  strided_pad_mode: str = "constant"  # "reflect" in the PyTorch HiFiC port
  dtype: jnp.dtype = jnp.float32  # of the convolutions; z, which the entropy model reads, is float32

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    act = activation(self.activation, self.negative_slope)
    strided = dict(padding=self.padding, pad_mode=self.strided_pad_mode, dtype=self.dtype)
    z = act(Conv(self.channels, (3, 3), padding=self.padding, dtype=self.dtype)(y))
    z = act(Conv(self.channels, (5, 5), (2, 2), **strided)(z))
    return Conv(self.channels, (5, 5), (2, 2), **strided)(z).astype(jnp.float32)


# A `HyperSynthesis`' layers in order: its two transposed convs, then its last conv. Named
# explicitly because the codec's fixed-point copy of the net (`jgc.codec.sideinfo`) finds them by
# these names, which each model declares in its `Coding`; they are the names Flax gave
# automatically before, so bundles are unchanged.
SYNTHESIS_LAYERS = ("ConvTranspose_0", "ConvTranspose_1", "Conv_0")


class HyperSynthesis(nn.Module):
  """Two 5x5 stride-2 transposed convs with activations, then a 3x3 conv."""

  channels: Sequence[int]
  out_channels: int
  activation: str = "relu"
  negative_slope: float = 0.2
  padding: str = "SAME"
  dtype: jnp.dtype = jnp.float32  # of the convolutions; the entropy parameters are float32

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    act = activation(self.activation, self.negative_slope)
    *upsampling, last = SYNTHESIS_LAYERS
    for c, name in zip(self.channels, upsampling, strict=True):
      z = act(ConvTranspose(c, (5, 5), (2, 2), padding=self.padding, dtype=self.dtype, name=name)(z))
    return Conv(self.out_channels, (3, 3), padding=self.padding, dtype=self.dtype, name=last)(z).astype(jnp.float32)


def hyperprior_aux(*, latents: Pair, quantized: Pair, likelihoods: Pair, rounded_likelihoods: Pair, mean: jax.Array,
                   scale: jax.Array) -> dict:
  """The `aux` of a two-level (y, z) model; each pair is `(for y, for z)`."""
  return {
      "latents": _pair(latents),
      "quantized": _pair(quantized),
      "bits": _pair(likelihoods, bits),
      "bits_rounded": _pair(rounded_likelihoods, bits),
      "mean": mean,
      "scale": scale,
  }


def _pair(values: Pair, f: Callable[[jax.Array], jax.Array] = lambda v: v) -> dict[str, jax.Array]:
  return {"y": f(values[0]), "z": f(values[1])}
