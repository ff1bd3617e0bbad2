"""Images to compressed files and back, with a bundle's model.

Streams per model:
- `hific`, `hyperprior` (scale, mean_scale): "z" (hyper-latent, one table per
  channel), then "y" (Gaussian tables picked by the fixed-point side info).
- `hyperprior` (autoregressive, Minnen 2018 §2): "z", then "y" coded position
  by position in raster order, each position's parameters computed from the
  already coded neighbours, in fixed point on both sides.
- `gc`: "w", the centre indices under the learned per-channel prior.
- `vaegan`: "y", the rounded posterior mean under the factorized prior.

The transforms run in float32 on any device; only the side-info path must be
bit-exact, and it is (`jgc.codec.sideinfo`).
"""

import dataclasses
import functools
import math
import time

import constriction
import jax
import jax.numpy as jnp
import numpy as np

from jgc.codec import container, memory, sideinfo
from jgc.codec.bundle import Bundle
from jgc.codec.coder import IndexedCoder, StreamError
from jgc.models.hific import hyper_padding
from jgc.models.layers import causal_mask

STREAMS = {"hific": ("z", "y"), "hyperprior": ("z", "y"), "gc": ("w",), "vaegan": ("y",)}


@dataclasses.dataclass
class Timing:
  """Seconds per stage of one image."""

  transforms: float = 0.0
  side_info: float = 0.0
  coding: float = 0.0

  def as_dict(self) -> dict[str, float]:
    return {k: round(v, 4) for k, v in dataclasses.asdict(self).items()}


class _Clock:
  def __init__(self, timing: Timing, stage: str):
    self.timing, self.stage = timing, stage

  def __enter__(self):
    self.start = time.perf_counter()

  def __exit__(self, *_):
    setattr(self.timing, self.stage, getattr(self.timing, self.stage) + time.perf_counter() - self.start)


def _channels(shape: tuple[int, ...]) -> np.ndarray:
  return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)


class Codec:
  """Compresses and decompresses single images with one bundle."""

  def __init__(self, bundle: Bundle):
    self.bundle = bundle
    self.streams = STREAMS[bundle.name]
    self._coders = {k: IndexedCoder(t) for k, t in bundle.tables.items()}
    self._variables = {"params": bundle.params}
    model = bundle.model
    self._encode = jax.jit(functools.partial(model.apply, method="encode_latents"))
    self._decode = jax.jit(functools.partial(model.apply, method="decode_latents"), static_argnames="image_hw")
    self._forward = jax.jit(functools.partial(model.apply, train=False))

  # Shapes follow from the image size; the decoder gets them without running anything.
  @functools.lru_cache(maxsize=64)  # noqa: B019  (a codec lives as long as its bundle)
  def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, ...], ...]:
    x = jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)
    out = jax.eval_shape(self._encode, self._variables, x)
    return tuple(tuple(a.shape) for a in (out if isinstance(out, tuple) else (out,)))

  def compress(self, image: np.ndarray) -> tuple[bytes, Timing]:
    """A file's bytes for an `HxWx3` uint8 RGB image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
      raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    timing = Timing()
    h, w = image.shape[:2]
    with _Clock(timing, "transforms"):
      latents = jax.device_get(self._encode(self._variables, _to_float(image)))
    name = self.bundle.name
    if name in ("hific", "hyperprior"):
      y, z_sym = latents
      with _Clock(timing, "coding"):
        z_stream = self._coders["z"].encode(z_sym, _channels(z_sym.shape))
      if self.bundle.prior == "autoregressive":
        y_stream = self._autoregressive(timing, z_sym, y=np.asarray(y))[0]
      else:
        with _Clock(timing, "side_info"):
          mean, idx = self._side_info(z_sym, y.shape[1:3])
        with _Clock(timing, "coding"):
          y_stream = self._coders["y"].encode(np.round(y - mean).astype(np.int32), idx)
      streams = [z_stream, y_stream]
    else:
      with _Clock(timing, "coding"):
        streams = [self._coders[self.streams[0]].encode(latents, _channels(latents.shape))]
    data = container.pack(container.Coded(self.bundle.model_id, h, w, streams))
    return data, timing

  def decompress(self, data: bytes) -> tuple[np.ndarray, Timing]:
    """The `HxWx3` uint8 image of a file made with this bundle."""
    coded = container.unpack(data, len(self.streams), self.bundle.model_id)
    try:
      return self._decompress(coded)
    except sideinfo.SideInfoError as e:  # decoded symbols no trained model produces
      raise StreamError(f"corrupt coded stream: {e}") from None

  def _synthesis_within_budget(self, hw: tuple[int, int], shapes) -> jax.stages.Compiled:
    """The synthesis compiled for `hw`, once its memory is known to fit the budget."""
    y_shape = shapes[0]
    if self.bundle.name in ("hific", "hyperprior"):
      args = (jax.ShapeDtypeStruct(y_shape, jnp.int32), jax.ShapeDtypeStruct(y_shape, jnp.float32))
      # The side information's float64 host arrays: hyper output, means, scales, indices, symbols.
      host = 8 * 6 * int(np.prod(y_shape))
    else:
      args = (jax.ShapeDtypeStruct(y_shape, jnp.int32),)
      host = 8 * int(np.prod(y_shape))
    compiled = self._decode.lower(self._variables, *args, image_hw=hw).compile()
    stats = compiled.memory_analysis()
    needed = host + (stats.temp_size_in_bytes + stats.output_size_in_bytes if stats else 0)
    memory.check(needed, f"decoding a {hw[1]}x{hw[0]} image with {self.bundle.name}")
    return compiled

  @functools.cached_property
  def _fewest_bits(self) -> dict[str, float]:
    """The least a symbol of each stream can cost: what its tables' likeliest entry costs."""
    fewest = {}
    for name, t in self.bundle.tables.items():
      likeliest = max(int(t.pmf(i).max()) for i in range(t.num_tables))
      fewest[name] = -math.log2(likeliest / 2**t.precision)
    return fewest

  def _check_claim(self, coded: container.Coded) -> None:
    """Refuses a header that claims more symbols than its streams can hold, before anything
    is allocated for them (a range coder cannot spend fewer bits than the information)."""
    shapes = self.latent_shapes(coded.height, coded.width)
    # encode_latents gives (y, z) for two-stream models, files hold (z, y).
    by_stream = dict(zip(("y", "z"), shapes, strict=True)) if len(shapes) == 2 else {self.streams[0]: shapes[0]}
    for name, stream in zip(self.streams, coded.streams, strict=True):
      count = math.prod(by_stream[name])
      # Twice the coder's fixed overhead of two 32-bit words, as a margin.
      if count * self._fewest_bits[name] > 8 * len(stream) + 128:
        raise container.FormatError(
            f"the header claims {coded.width}x{coded.height} pixels, {count} symbols in stream {name!r}, "
            f"more than its {len(stream)} bytes can hold; the file is corrupt or crafted")

  def decode_symbols(self, data: bytes) -> dict[str, np.ndarray]:
    """The integer symbols of each stream of a file: what format v1 pins (tests/golden)."""
    coded = container.unpack(data, len(self.streams), self.bundle.model_id)
    self._check_claim(coded)
    try:
      return self._symbols(coded, Timing())[0]
    except sideinfo.SideInfoError as e:
      raise StreamError(f"corrupt coded stream: {e}") from None

  def _symbols(self, coded: container.Coded, timing: Timing) -> tuple[dict[str, np.ndarray], tuple]:
    """`(symbols per stream, the synthesis' arguments)` of a file."""
    shapes = self.latent_shapes(coded.height, coded.width)
    if self.bundle.name not in ("hific", "hyperprior"):
      with _Clock(timing, "coding"):
        sym = self._coders[self.streams[0]].decode(coded.streams[0], _channels(shapes[0]))
      return {self.streams[0]: sym}, (jnp.asarray(sym),)
    y_shape, z_shape = shapes
    with _Clock(timing, "coding"):
      z_sym = self._coders["z"].decode(coded.streams[0], _channels(z_shape))
    if self.bundle.prior == "autoregressive":
      y_sym, mean = self._autoregressive(timing, z_sym, y_shape=y_shape, stream=coded.streams[1])
    else:
      with _Clock(timing, "side_info"):
        mean, idx = self._side_info(z_sym, y_shape[1:3])
      with _Clock(timing, "coding"):
        y_sym = self._coders["y"].decode(coded.streams[1], idx)
    return {"z": z_sym, "y": y_sym}, (jnp.asarray(y_sym), jnp.asarray(mean))

  def _decompress(self, coded: container.Coded) -> tuple[np.ndarray, Timing]:
    self._check_claim(coded)
    timing = Timing()
    hw = (coded.height, coded.width)
    with _Clock(timing, "transforms"):
      synthesis = self._synthesis_within_budget(hw, self.latent_shapes(*hw))
    _, args = self._symbols(coded, timing)
    with _Clock(timing, "transforms"):
      x = np.asarray(synthesis(self._variables, *args))
    # A corrupt stream can decode to NaN; it still becomes an image, never an error in the cast.
    return np.round(np.clip(np.nan_to_num(x[0]), 0.0, 1.0) * 255.0).astype(np.uint8), timing

  def estimate_bits(self, image: np.ndarray) -> float:
    """The model's own rate estimate (evaluation forward, rounded latents), bits."""
    _, aux = self._forward(self._variables, _to_float(image))
    return float(sum(jnp.sum(b) for b in aux["bits_rounded"].values()))

  # Side information: exact fixed point (see `sideinfo`).

  def _z_fixed(self, z_sym: np.ndarray) -> np.ndarray:
    p = self.bundle.params
    prior = p["hyperprior"]["z_prior"] if self.bundle.name == "hific" else p["z_prior"]
    medians = np.asarray(prior["quantiles"])[:, 1]
    return np.asarray(z_sym, np.float64) * 2.0**sideinfo.ACT_BITS + sideinfo.to_fixed(medians)

  @functools.cached_property
  def _fixed(self) -> dict:
    """The fixed-point weights of the side-info networks."""
    p = self.bundle.params
    if self.bundle.name == "hific":
      nets = {k: p["hyperprior"][k] for k in ("mean_synthesis", "scale_synthesis")}
    else:
      nets = {"hyper_synthesis": p["hyper_synthesis"]}
      if self.bundle.prior == "autoregressive":
        k = p["context"]["kernel"].shape[0]
        mask = np.asarray(causal_mask(k))[:, :, None, None]
        masked = {"kernel": np.asarray(p["context"]["kernel"]) * mask, "bias": p["context"]["bias"]}
        nets["context"] = {"masked": masked}
        nets["entropy_parameters"] = p["entropy_parameters"]
    return {name: sideinfo.fixed_weights(net) for name, net in nets.items()}

  def _hyper_fixed(self, z_sym: np.ndarray, latent_hw) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point `(mean, scale)` for non-autoregressive models, or the raw hyper output."""
    w, z = self._fixed, self._z_fixed(z_sym)
    if self.bundle.name == "hific":
      padding = hyper_padding(self.bundle.model.padding)
      return (sideinfo.hyper_synthesis(w["mean_synthesis"], z, "relu", latent_hw, padding=padding),
              sideinfo.hyper_synthesis(w["scale_synthesis"], z, "relu", latent_hw, padding=padding))
    model = self.bundle.model
    if self.bundle.prior == "scale":
      scale = sideinfo.hyper_synthesis(w["hyper_synthesis"], z, "relu", latent_hw, padding=model.padding)
      return np.zeros_like(scale), scale
    hyper = sideinfo.hyper_synthesis(w["hyper_synthesis"], z, "leaky_relu", latent_hw,
                                     negative_slope=model.negative_slope, padding=model.padding)
    return hyper, None

  def _side_info(self, z_sym: np.ndarray, latent_hw) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = self._hyper_fixed(z_sym, latent_hw)
    if scale is None:
      mean, scale = np.split(mean, 2, axis=-1)
    return sideinfo.from_fixed(mean), sideinfo.scale_indices(scale, self.bundle.boundaries)

  def _autoregressive(self, timing: Timing, z_sym, *, y=None, y_shape=None, stream=None):
    """Codes (with `y`) or decodes (with `stream`) y in raster order; returns
    `(stream, None)` or `(symbols, means)`."""
    with _Clock(timing, "side_info"):
      shape = y.shape if y is not None else y_shape
      _, h, w, m = shape
      hyper, _ = self._hyper_fixed(z_sym, (h, w))
      # Host numpy: the per-position products are small matrix-vector ones.
      masked = jax.tree.map(np.asarray, self._fixed["context"]["masked"])
      layers = [jax.tree.map(np.asarray, self._fixed["entropy_parameters"][f"Conv_{i}"]) for i in range(3)]
      slope = self.bundle.model.negative_slope
    k = masked["kernel"].shape[0]
    r = k // 2
    y_hat = np.zeros((h + 2 * r, w + 2 * r, m), np.float64)  # fixed point, zero outside and ahead
    symbols = np.zeros((h, w, m), np.int32)
    means = np.zeros((h, w, m), np.float32)
    coder = self._coders["y"]
    codec_stream = constriction.stream.queue.RangeEncoder() if y is not None else coder.decoder(stream)
    for i in range(h):
      for j in range(w):
        with _Clock(timing, "side_info"):
          ctx = sideinfo.dense_stack([masked], y_hat[i : i + k, j : j + k].reshape(1, -1), "leaky_relu", slope)
          out = sideinfo.dense_stack(layers, np.concatenate([hyper[0, i, j][None], ctx], axis=1), "leaky_relu",
                                     slope)[0]
          mean_fx, scale_fx = np.split(out, 2)
          mean = sideinfo.from_fixed(mean_fx)
          idx = sideinfo.scale_indices(scale_fx, self.bundle.boundaries)
        with _Clock(timing, "coding"):
          if y is not None:
            sym = np.round(y[0, i, j] - mean).astype(np.int32)
            coder.encode_into(codec_stream, sym, idx)
          else:
            sym = coder.decode_from(codec_stream, idx)
        symbols[i, j], means[i, j] = sym, mean
        y_hat[i + r, j + r] = sym * 2.0**sideinfo.ACT_BITS + mean_fx
    if y is not None:
      return codec_stream.get_compressed().astype("<u4").tobytes(), None
    return symbols[None], means[None]


def _to_float(image: np.ndarray) -> jax.Array:
  return jnp.asarray(image, jnp.float32)[None] / 255.0
