"""The hyper-latent -> (means, scale indices) path in exact fixed point.

Encoder and decoder must compute identical scale indices, or the range coder
desynchronizes and the rest of the image decodes to garbage; float32
convolutions differ in the last bit across devices, thread counts and XLA
flags (Ballé et al. 2019, "Integer networks for data compression", §1). Here
the hyper-synthesis runs on integers: weights carry `WEIGHT_BITS` fractional
bits, activations `ACT_BITS`, every product and sum is an integer below 2^53
held in float64, so any summation order gives the same exact result; each
layer ends with a floor division by a power of two. The price is a
quantization of the float network, about 2^-10 in the means and scales.

The layers mirror `jgc.models.hyper.HyperSynthesis` (5x5 stride-2 transposed
convs with activations, then a 3x3 conv, SAME padding) and the
autoregressive model's masked context conv and 1x1 entropy-parameter net;
tests compare both paths.
"""

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WEIGHT_BITS = 12
ACT_BITS = 10
LEAKY_SLOPE = 0.2  # `jgc.models.layers.leaky_relu`
# Activations above this would let a layer's sums leave float64's exact range.
_MAX_ACT = 2.0**20


class SideInfoError(ValueError):
  """The fixed-point network left its exact range (a broken or foreign model)."""


def to_fixed(x: np.ndarray, bits: int = ACT_BITS) -> np.ndarray:
  """`round(x * 2^bits)` as float64 integers."""
  return np.round(np.asarray(x, np.float64) * 2.0**bits)


def from_fixed(x: np.ndarray, bits: int = ACT_BITS) -> np.ndarray:
  """The float32 value of fixed-point integers (exact below 2^24)."""
  return (np.asarray(x, np.float64) / 2.0**bits).astype(np.float32)


def _activate(x, activation: str | None, xp):
  if activation is None:
    return x
  if activation == "relu":
    return xp.maximum(x, 0.0)
  slope = float(np.round(LEAKY_SLOPE * 2.0**WEIGHT_BITS))
  return xp.where(x >= 0, x, xp.floor(x * slope / 2.0**WEIGHT_BITS))


def _check_range(x: np.ndarray, what: str) -> np.ndarray:
  if not np.all(np.abs(x) < _MAX_ACT * 2.0**ACT_BITS):
    raise SideInfoError(f"{what}: fixed-point activations overflow; the model's weights are broken")
  return x


def _layer(kind: str, params: Mapping, x: jax.Array, activation: str | None) -> jax.Array:
  kernel = jnp.asarray(to_fixed(params["kernel"], WEIGHT_BITS))
  bias = jnp.asarray(to_fixed(params["bias"]))
  features, size = kernel.shape[-1], kernel.shape[:2]
  if kind == "transpose":
    layer = nn.ConvTranspose(features, size, (2, 2), padding="SAME", use_bias=False,
                             dtype=jnp.float64, param_dtype=jnp.float64)
  else:
    layer = nn.Conv(features, size, padding="SAME", use_bias=False, dtype=jnp.float64, param_dtype=jnp.float64)
  y = layer.apply({"params": {"kernel": kernel}}, x)
  return _activate(jnp.floor(y / 2.0**WEIGHT_BITS) + bias, activation, jnp)


def hyper_synthesis(params: Mapping, z_fixed: np.ndarray, activation: str, latent_hw: tuple[int, int]) -> np.ndarray:
  """A `HyperSynthesis` on fixed-point input; fixed-point output cropped to `latent_hw`."""
  names = sorted((k for k in params if k.startswith("ConvTranspose_")), key=lambda k: int(k.split("_")[1]))
  with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
    x = jnp.asarray(_check_range(np.asarray(z_fixed, np.float64), "hyper-latent"))
    for name in names:
      x = _layer("transpose", params[name], x, activation)
    x = _layer("conv", params["Conv_0"], x, None)
    out = np.asarray(x)
  return _check_range(out[:, : latent_hw[0], : latent_hw[1]], "hyper-synthesis")


def dense_stack(layers: list[Mapping], x_fixed: np.ndarray, activation: str) -> np.ndarray:
  """1x1 convs (or a flattened masked conv) on fixed-point rows `(N, C)`: activation between layers."""
  x = np.asarray(x_fixed, np.float64)
  for i, p in enumerate(layers):
    kernel = to_fixed(np.asarray(p["kernel"]).reshape(-1, np.shape(p["kernel"])[-1]), WEIGHT_BITS)
    x = np.floor((x @ kernel) / 2.0**WEIGHT_BITS) + to_fixed(p["bias"])
    x = _activate(x, activation if i < len(layers) - 1 else None, np)
  return _check_range(x, "entropy parameters")


def scale_indices(scale_fixed: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
  """Nearest table entry of each fixed-point scale, by exact comparisons with the stored boundaries."""
  scale = np.asarray(scale_fixed, np.float64) / 2.0**ACT_BITS
  return np.searchsorted(np.asarray(boundaries, np.float64), scale, side="left").astype(np.int32)
