"""The hyper-latent -> (means, scale indices) path in exact fixed point.

Encoder and decoder must compute identical scale indices, or the range coder
desynchronizes and the rest of the image decodes to garbage; float32
convolutions differ in the last bit across devices, thread counts and XLA
flags (Ballé et al. 2019, "Integer networks for data compression", §1). Here
the hyper-synthesis runs on integers: weights carry `Precision.weight_bits`
fractional bits, activations `Precision.act_bits`; every product and partial
sum is an integer below 2^53 held in float64, so any summation order gives the
same exact result (checked per layer from the weights' L1 norms and the
input's largest value, not assumed); each layer ends with a division by a
power of two, floored or rounded.

Two precisions, fixed by the file's format version: `COARSE` (versions 1
and 2) leaves means about 2^-10 from the float network's, enough for jgc's own
models but not to decode an imported model's files as its source does (issue
24: up to 7 grey levels from CompressAI's own decoder); `FINE` (version 3)
puts them within 1e-4.

The layers mirror `jgc.models.hyper.HyperSynthesis` (5x5 stride-2 transposed
convs with activations, then a 3x3 conv; SAME or TORCH padding) and the
autoregressive model's masked context conv and 1x1 entropy-parameter net;
tests compare both paths.
"""

import dataclasses
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

# Integers of float64 are exact up to here; every partial sum of a layer must stay below it.
_EXACT = 2.0**53


@dataclasses.dataclass(frozen=True)
class Precision:
  """Fractional bits of the fixed-point weights and activations; `rounded`: a layer's sums are
  rounded to the nearest step (halves up), not floored, which removes floor's bias of half a step."""

  weight_bits: int
  act_bits: int
  rounded: bool


COARSE = Precision(weight_bits=12, act_bits=10, rounded=False)
FINE = Precision(weight_bits=22, act_bits=18, rounded=True)


class SideInfoError(errors.Error, ValueError):
  """The fixed-point network left its exact range (a broken or foreign model, or a corrupt stream)."""


def to_fixed(x: np.ndarray, bits: int) -> np.ndarray:
  """`round(x * 2^bits)` as float64 integers."""
  return np.round(np.asarray(x, np.float64) * 2.0**bits)


def from_fixed(x: np.ndarray, bits: int) -> np.ndarray:
  """The float32 value of fixed-point integers (float32's rounding of the exact quotient)."""
  return (np.asarray(x, np.float64) / 2.0**bits).astype(np.float32)


def _rescale(y: np.ndarray | jax.Array, precision: Precision, xp: types.ModuleType) -> np.ndarray | jax.Array:
  """Sums of products with weights, back to activations' steps."""
  half = 2.0 ** (precision.weight_bits - 1) if precision.rounded else 0.0
  return xp.floor((y + half) / 2.0**precision.weight_bits)


def _activate(x: np.ndarray | jax.Array, activation: str | None, negative_slope: float, precision: Precision,
              xp: types.ModuleType) -> np.ndarray | jax.Array:
  """`xp`: numpy or jax.numpy, the module of `x`."""
  if activation is None:
    return x
  if activation == "relu":
    return xp.maximum(x, 0.0)
  slope = float(np.round(negative_slope * 2.0**precision.weight_bits))
  return xp.where(x >= 0, x, _rescale(x * slope, precision, xp))


def _check_exact(bound: float, what: str) -> None:
  # Half of 2^53: room for the rounding offset and the bias added after the sums.
  if not bound < _EXACT / 2:
    raise SideInfoError(f"{what}: fixed-point sums would leave float64's exact integers")


def fixed_weights(params: Mapping, precision: Precision) -> dict:
  """A conv stack's kernels and biases in fixed point (float64 integers on the CPU, so
  `hyper_synthesis` does not copy them per call), and each layer's largest L1 norm of an output
  channel's kernel, which bounds its sums; computed once per model and precision."""
  with jax.enable_x64(True):
    cpu = jax.devices("cpu")[0]
    fixed = {}
    for name, p in params.items():
      kernel, bias = to_fixed(p["kernel"], precision.weight_bits), to_fixed(p["bias"], precision.act_bits)
      fixed[name] = {"kernel": jax.device_put(kernel, cpu), "bias": jax.device_put(bias, cpu),
                     "l1": float(np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0).max())}
    return fixed


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _layer(kind: str, params: Mapping, x: jax.Array, activation: str | None, negative_slope: float,
           padding: str, precision: Precision) -> tuple[jax.Array, jax.Array]:
  """The layer's output, and the bound on its partial sums."""
  kernel = params["kernel"]
  if kind == "transpose":
    # Exact in float64 in any form; the sub-pixel one avoids XLA:CPU's slow dilated path.
    y = subpixel_conv_transpose(x, kernel, (2, 2), padding)
  else:
    y = _conv(x, kernel)
  out = _activate(_rescale(y, precision, jnp) + params["bias"], activation, negative_slope, precision, jnp)
  return out, jnp.max(jnp.abs(x)) * params["l1"]


@functools.partial(jax.jit, static_argnames=("net", "precision"))
def _synthesis(net: SideInfoNet, precision: Precision, weights: Mapping, x: jax.Array,
               extent: jax.Array) -> tuple[jax.Array, jax.Array]:
  base, bounds = x.shape[1:3], []
  *upsampling, last = net.layers
  for name in upsampling:
    x, bound = _layer("transpose", weights[name], x, net.activation, net.negative_slope, net.padding, precision)
    # Zeroed beyond the hyper-latent's extent: what zero padding gives at its own size (see `buckets`).
    x = buckets.mask(x, extent, base)
    bounds.append(bound)
  x, bound = _layer("conv", weights[last], x, None, net.negative_slope, net.padding, precision)
  return x, jnp.max(jnp.stack([*bounds, bound]))


def hyper_synthesis(net: SideInfoNet, weights: Mapping, z_fixed: np.ndarray, latent_hw: tuple[int, int],
                    precision: Precision, *, latent_bucket: int = 1) -> np.ndarray:
  """The side-information net `net` (weights from `fixed_weights` at `precision`, its layers found
  by the names it declares) on fixed-point input; fixed-point output cropped to `latent_hw`. Runs
  on the CPU in float64.

  `latent_bucket`: the output is computed at a multiple of this many latent positions (the
  input filled with zeros, every layer's output zeroed beyond the input's extent), so that one
  compilation serves a bucket of sizes; the values are those of the input's own size.
  """
  z = np.asarray(z_fixed, np.float64)
  multiple = max(1, latent_bucket >> (len(net.layers) - 1))
  filled = buckets.fill(z, tuple(buckets.round_up(n, multiple) for n in z.shape[1:3]))
  with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
    out, bound = _synthesis(net, precision, weights, jnp.asarray(filled), jnp.asarray(z.shape[1:3]))
  _check_exact(float(bound), "hyper-synthesis")
  return np.asarray(out)[:, : latent_hw[0], : latent_hw[1]]


def dense_stack(layers: list[Mapping], x_fixed: np.ndarray, activation: str, precision: Precision,
                negative_slope: float = 0.2) -> np.ndarray:
  """1x1 convs (or a flattened masked conv), weights from `fixed_weights` at `precision`, on
  fixed-point rows `(N, C)`, with the activation between layers."""
  x = np.asarray(x_fixed, np.float64)
  for i, p in enumerate(layers):
    _check_exact(float(np.abs(x).max(initial=0.0)) * float(p["l1"]), "entropy parameters")
    kernel = np.asarray(p["kernel"])
    x = _rescale(x @ kernel.reshape(-1, kernel.shape[-1]), precision, np) + np.asarray(p["bias"])
    x = _activate(x, activation if i < len(layers) - 1 else None, negative_slope, precision, np)
  return x


def scale_indices(scale_fixed: np.ndarray, boundaries: np.ndarray, precision: Precision) -> np.ndarray:
  """Nearest table entry of each fixed-point scale, by exact comparisons with the stored boundaries."""
  scale = np.asarray(scale_fixed, np.float64) / 2.0**precision.act_bits
  return np.searchsorted(np.asarray(boundaries, np.float64), scale, side="left").astype(np.int32)
