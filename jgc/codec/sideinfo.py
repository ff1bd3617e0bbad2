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
convs with activations, then a 3x3 conv; SAME or TORCH padding) and the
autoregressive model's masked context conv and 1x1 entropy-parameter net;
tests compare both paths.
"""

import functools
import types
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jgc import errors
from jgc.codec import buckets
from jgc.models.coding import SideInfoNet
from jgc.models.convs import subpixel_conv_transpose

WEIGHT_BITS = 12
ACT_BITS = 10
# Activations above this would let a layer's sums leave float64's exact range.
_MAX_ACT = 2.0**20


class SideInfoError(errors.Error, ValueError):
  """The fixed-point network left its exact range (a broken or foreign model)."""


def to_fixed(x: np.ndarray, bits: int = ACT_BITS) -> np.ndarray:
  """`round(x * 2^bits)` as float64 integers."""
  return np.round(np.asarray(x, np.float64) * 2.0**bits)


def from_fixed(x: np.ndarray, bits: int = ACT_BITS) -> np.ndarray:
  """The float32 value of fixed-point integers (exact below 2^24)."""
  return (np.asarray(x, np.float64) / 2.0**bits).astype(np.float32)


def _activate(x: np.ndarray | jax.Array, activation: str | None, negative_slope: float,
              xp: types.ModuleType) -> np.ndarray | jax.Array:
  """`xp`: numpy or jax.numpy, the module of `x`."""
  if activation is None:
    return x
  if activation == "relu":
    return xp.maximum(x, 0.0)
  slope = float(np.round(negative_slope * 2.0**WEIGHT_BITS))
  return xp.where(x >= 0, x, xp.floor(x * slope / 2.0**WEIGHT_BITS))


def _check_range(x: np.ndarray, what: str) -> np.ndarray:
  if not np.all(np.abs(x) < _MAX_ACT * 2.0**ACT_BITS):
    raise SideInfoError(f"{what}: fixed-point activations overflow their range of +-{int(_MAX_ACT)}")
  return x


def fixed_weights(params: Mapping) -> dict:
  """A conv stack's kernels and biases in fixed point (float64 integers on the
  CPU, so `hyper_synthesis` does not copy them per call); computed once per model."""
  with jax.enable_x64(True):
    cpu = jax.devices("cpu")[0]
    return {name: {"kernel": jax.device_put(to_fixed(p["kernel"], WEIGHT_BITS), cpu),
                   "bias": jax.device_put(to_fixed(p["bias"]), cpu)}
            for name, p in params.items()}


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _layer(kind: str, params: Mapping, x: jax.Array, activation: str | None, negative_slope: float,
           padding: str) -> jax.Array:
  kernel = params["kernel"]
  if kind == "transpose":
    # Exact in float64 in any form; the sub-pixel one avoids XLA:CPU's slow dilated path.
    y = subpixel_conv_transpose(x, kernel, (2, 2), padding)
  else:
    y = _conv(x, kernel)
  return _activate(jnp.floor(y / 2.0**WEIGHT_BITS) + params["bias"], activation, negative_slope, jnp)


@functools.partial(jax.jit, static_argnames="net")
def _synthesis(net: SideInfoNet, weights: Mapping, x: jax.Array, extent: jax.Array) -> jax.Array:
  base = x.shape[1:3]
  *upsampling, last = net.layers
  for name in upsampling:
    # Zeroed beyond the hyper-latent's extent: what zero padding gives at its own size (see `buckets`).
    x = buckets.mask(_layer("transpose", weights[name], x, net.activation, net.negative_slope, net.padding),
                     extent, base)
  return _layer("conv", weights[last], x, None, net.negative_slope, net.padding)


def hyper_synthesis(net: SideInfoNet, weights: Mapping, z_fixed: np.ndarray, latent_hw: tuple[int, int], *,
                    latent_bucket: int = 1) -> np.ndarray:
  """The side-information net `net` (weights from `fixed_weights`, its layers found by the names it
  declares) on fixed-point input; fixed-point output cropped to `latent_hw`. Runs on the CPU in float64.

  `latent_bucket`: the output is computed at a multiple of this many latent positions (the
  input filled with zeros, every layer's output zeroed beyond the input's extent), so that one
  compilation serves a bucket of sizes; the values are those of the input's own size.
  """
  z = _check_range(np.asarray(z_fixed, np.float64), "hyper-latent")
  multiple = max(1, latent_bucket >> (len(net.layers) - 1))
  filled = buckets.fill(z, tuple(buckets.round_up(n, multiple) for n in z.shape[1:3]))
  with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
    out = np.asarray(_synthesis(net, weights, jnp.asarray(filled), jnp.asarray(z.shape[1:3])))
  return _check_range(out[:, : latent_hw[0], : latent_hw[1]], "hyper-synthesis")


def dense_stack(layers: list[Mapping], x_fixed: np.ndarray, activation: str, negative_slope: float = 0.2) -> np.ndarray:
  """1x1 convs (or a flattened masked conv), weights from `fixed_weights`, on
  fixed-point rows `(N, C)`, with the activation between layers."""
  x = np.asarray(x_fixed, np.float64)
  for i, p in enumerate(layers):
    kernel = np.asarray(p["kernel"])
    x = np.floor((x @ kernel.reshape(-1, kernel.shape[-1])) / 2.0**WEIGHT_BITS) + np.asarray(p["bias"])
    x = _activate(x, activation if i < len(layers) - 1 else None, negative_slope, np)
  return _check_range(x, "entropy parameters")


def scale_indices(scale_fixed: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
  """Nearest table entry of each fixed-point scale, by exact comparisons with the stored boundaries."""
  scale = np.asarray(scale_fixed, np.float64) / 2.0**ACT_BITS
  return np.searchsorted(np.asarray(boundaries, np.float64), scale, side="left").astype(np.int32)
