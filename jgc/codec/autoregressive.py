"""The conditional stream of the autoregressive side information (Minnen 2018 §2).

y is coded position by position in raster order: each position's mean and scale come from the
hyper-synthesis' output there and a masked context conv over the already coded neighbours, then
1x1 entropy-parameter nets, all in exact fixed point (`jgc.codec.sideinfo`), so that the decoder,
which sees the same neighbours, computes the same tables.
"""

import dataclasses
from collections.abc import Callable

import constriction
import numpy as np

from jgc.codec import sideinfo
from jgc.codec.coder import IndexedCoder
from jgc.codec.phases import phase


@dataclasses.dataclass(frozen=True)
class Context:
  """The fixed-point nets after the hyper-synthesis (`sideinfo.fixed_weights`, as host arrays)."""

  masked: dict  # the masked context conv, its kernel zero at and after the centre
  layers: list[dict]  # the entropy-parameter nets' 1x1 convs, in order
  activation: str  # of the hyper-synthesis, which these nets share
  negative_slope: float
  boundaries: np.ndarray  # where scales snap to the next table (`sideinfo.scale_indices`)
  precision: sideinfo.Precision  # of the weights, and of everything computed here


def encode(context: Context, coder: IndexedCoder, hyper: np.ndarray, y: np.ndarray) -> bytes:
  """The stream of the latent `y`, `(1, h, w, channels)`; `hyper`: the fixed-point
  hyper-synthesis output at y's positions."""
  encoder = constriction.stream.queue.RangeEncoder()

  def code(i: int, j: int, mean: np.ndarray, indices: np.ndarray) -> np.ndarray:
    symbols = np.round(y[0, i, j] - mean).astype(np.int32)
    coder.encode_into(encoder, symbols, indices)
    return symbols

  _raster(context, hyper, code)
  return encoder.get_compressed().astype("<u4").tobytes()


def decode(context: Context, coder: IndexedCoder, hyper: np.ndarray, stream: bytes) -> tuple[np.ndarray, np.ndarray]:
  """`(symbols, means)` of the stream, each `(1, h, w, channels)` at the positions of `hyper`
  (the fixed-point hyper-synthesis output); the latent is their sum."""
  decoder = coder.decoder(stream)
  return _raster(context, hyper, lambda _i, _j, _mean, indices: coder.decode_from(decoder, indices))


def _raster(context: Context, hyper: np.ndarray,
            code: Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """`(symbols, means)`, position by position: `code(i, j, mean, scale indices)` codes the symbols
  at `(i, j)` and returns them."""
  _, h, w, _ = hyper.shape
  k, _, m, _ = context.masked["kernel"].shape
  r = k // 2
  act, slope, precision = context.activation, context.negative_slope, context.precision
  y_hat = np.zeros((h + 2 * r, w + 2 * r, m), np.float64)  # fixed point, zero outside and ahead
  symbols = np.zeros((h, w, m), np.int32)
  means = np.zeros((h, w, m), np.float32)
  for i in range(h):
    for j in range(w):
      with phase("side_info"):
        ctx = sideinfo.dense_stack([context.masked], y_hat[i : i + k, j : j + k].reshape(1, -1), act, precision, slope)
        out = sideinfo.dense_stack(context.layers, np.concatenate([hyper[0, i, j][None], ctx], axis=1), act, precision,
                                   slope)[0]
        mean_fx, scale_fx = np.split(out, 2)
        mean = sideinfo.from_fixed(mean_fx, precision.act_bits)
        indices = sideinfo.scale_indices(scale_fx, context.boundaries, precision)
      with phase("range_coding"):
        sym = code(i, j, mean, indices)
      symbols[i, j], means[i, j] = sym, mean
      y_hat[i + r, j + r] = sym * 2.0**precision.act_bits + mean_fx
  return symbols[None], means[None]
