"""Images to compressed files and back, with a bundle's model.

The model declares its streams and their entropy models (`coding()`,
`jgc.models.coding`); the codec reads nothing else of it:
- a factorized or learned-pmf stream has one table per channel ("z" of the
  hyperprior models, "y" of VAE-GAN, "w" of GC);
- the conditional stream ("y") is coded under the scale tables its fixed-point
  side information picks; with the autoregressive side information (Minnen
  2018 §2) position by position in raster order, each position's parameters
  computed from the already coded neighbours, in fixed point on both sides
  (`jgc.codec.autoregressive`).

The transforms run in float32 on any device; only the side-info path must be
bit-exact, and it is (`jgc.codec.sideinfo`).

The transforms run compiled for a bucket of sizes (`jgc.codec.buckets`), so
a folder of photos of many sizes compiles a few buckets, not once per photo;
beyond the memory budget, in overlapping tiles (`jgc.codec.tiling`). Its phases
are marked for profilers and benchmarks (`jgc.codec.phases`).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jgc import errors
from jgc.codec import autoregressive, buckets, container, memory, sideinfo, tiling
from jgc.codec.bundle import Bundle
from jgc.codec.coder import IndexedCoder, StreamError
from jgc.codec.phases import phase
from jgc.models.coding import params_at
from jgc.models.layers import causal_mask


def _channels(shape: tuple[int, ...]) -> np.ndarray:
  return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)


# The side information's fixed point, by format version: version 3's is finer (issue 24).
PRECISION = {1: sideinfo.COARSE, 2: sideinfo.COARSE, 3: sideinfo.FINE}


# Image sizes are rounded up to multiples of this to pick the compiled transforms: the
# photos of a folder fall into a few buckets, and a bucket costs at most 127 rows and columns.
BUCKET_PX = 128


class Codec:
  """Compresses and decompresses single images with one bundle.

  `bucket_px`: the transforms are compiled for sizes rounded up to multiples of this (itself
  rounded up to the model's stride, which buckets nothing); see `jgc.codec.buckets`.
  """

  def __init__(self, bundle: Bundle, bucket_px: int = BUCKET_PX):
    self.bundle = bundle
    self.coding = bundle.coding
    if bucket_px < 1:
      raise errors.ConfigError(f"bucket_px must be positive, got {bucket_px}")
    coding, stride = self.coding, self.coding.latent_stride
    # A model that pads by reflection runs at each image's own size: zeros cannot stand in for it.
    # Otherwise whole multiples of 4 latents, so that both halvings of a hyper-analysis see even sizes.
    self.bucket_px = buckets.round_up(bucket_px, 4 * stride) if coding.zero_padded and bucket_px > stride else stride
    self.streams = coding.streams
    self._coders = {k: IndexedCoder(t) for k, t in bundle.tables.items()}
    self._variables = {"params": bundle.params}
    model = bundle.model
    self._encode = jax.jit(functools.partial(model.apply, method="encode_latents"))
    analysis, *hyper = coding.encoding
    self._analyze = jax.jit(functools.partial(buckets.analysis, model, analysis, stride, coding.zero_padded))
    self._hyper = None
    if hyper:
      self._hyper = jax.jit(functools.partial(buckets.hyper_encoding, model, hyper[0], coding.zero_padded))
    self._decode = jax.jit(functools.partial(buckets.synthesis, model, coding.zero_padded), static_argnames="image_hw")
    self._forward = jax.jit(functools.partial(model.apply, train=False))

  @functools.cached_property
  def _strides(self) -> tuple[tuple[int, int], ...]:
    """`(pixels per position, channels)` of each encoded latent, from the shapes of one probe."""
    side = 1024  # a multiple of every stride
    out = jax.eval_shape(self._encode, self._variables, jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32))
    out = out if isinstance(out, tuple) else (out,)
    if any(side % a.shape[1] or a.shape[1] != a.shape[2] for a in out):
      raise ValueError(f"latents of {[a.shape for a in out]} from a {side}x{side} image: not whole strides")
    return tuple((side // a.shape[1], a.shape[3]) for a in out)

  def latent_shapes(self, height: int, width: int) -> tuple[tuple[int, ...], ...]:
    """The shapes of the latents of a `height x width` image: each side divided by the latent's
    stride, rounded up (the models pad to their stride, then their convolutions round up)."""
    return tuple((1, -(-height // s), -(-width // s), c) for s, c in self._strides)

  def _stream_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    return dict(zip(self.coding.encoded, self.latent_shapes(height, width), strict=True))

  def bucket(self, height: int, width: int) -> tuple[int, int]:
    """The size whose compiled transforms code an image of `height x width`."""
    return buckets.round_up(height, self.bucket_px), buckets.round_up(width, self.bucket_px)

  @functools.lru_cache(maxsize=32)  # noqa: B019
  def _analysis(self, hw: tuple[int, int]) -> tuple[jax.stages.Compiled, int]:
    """The analysis compiled for images of `hw` (a size bucket), and the bytes it takes."""
    traced = self._analyze.trace(self._variables, jax.ShapeDtypeStruct((1, *hw, 3), jnp.float32),
                                 jax.ShapeDtypeStruct((2,), jnp.int32))
    compiled = traced.lower().compile()
    return compiled, _device_bytes(compiled) + memory.cpu_kernel_scratch_bytes(traced.jaxpr)

  def encode(self, image: np.ndarray) -> tuple[np.ndarray, ...]:
    """The latents of an `HxWx3` uint8 image, as `coding.encoded` names them: the analysis run in
    the image's size bucket (or, beyond the memory budget, in overlapping tiles), its latent cut
    to the image's own size, then the rest of the encoding."""
    (h, w), stride = image.shape[:2], self.coding.latent_stride
    extent = self.latent_shapes(h, w)[0][1:3]
    with phase("analysis"):
      analysis, window, tile = self._analysis_within_budget((h, w))
      if tile is None:
        first = analysis(self._variables, _to_float(buckets.pad_image(image, self.bucket(h, w), stride)),
                         np.array(extent, np.int32))
        first = np.asarray(jax.device_get(first))[:, :extent[0], :extent[1]]
      else:
        def run(pixels: np.ndarray) -> np.ndarray:
          return np.asarray(jax.device_get(analysis(self._variables, _to_float(pixels), np.array(window, np.int32))))

        padded = buckets.pad_image(image, _pixels(extent, stride), stride)
        first = tiling.analyze(run, padded, window, tile, self.coding.analysis_radius, stride)
    if self._hyper is None:
      return (first,)
    latent_bucket = self.bucket_px // stride
    filled = buckets.fill(first, tuple(buckets.round_up(n, latent_bucket) for n in extent))
    with phase("hyper_analysis"):
      rest = jax.device_get(self._hyper(self._variables, filled, np.array(extent, np.int32)))
    rest = rest if isinstance(rest, tuple) else (rest,)
    return (first, *(np.asarray(a)[:, :s[1], :s[2]] for a, s in zip(rest, self.latent_shapes(h, w)[1:], strict=True)))

  def _analysis_within_budget(self, hw: tuple[int, int]) -> tuple[jax.stages.Compiled, tuple[int, int], int | None]:
    """`(compiled analysis, its latent window, tile)`: the whole image's, in its size bucket (tile
    None), if it fits the memory budget, else the largest of `tiling.TILES` whose overlapping window
    fits; `memory.TooLarge` if none does."""
    stride, extent = self.coding.latent_stride, self.latent_shapes(*hw)[0][1:3]
    bucket = self.bucket(*hw)
    # The padded image and the whole latent stay on the host, tiled or not.
    host = 3 * bucket[0] * bucket[1] + 4 * math.prod(self.latent_shapes(*hw)[0])
    compiled, needed = self._analysis(bucket)
    budget = memory.budget_bytes()
    if host + needed <= budget:
      return compiled, (bucket[0] // stride, bucket[1] // stride), None
    tiled = tiling.largest(extent, self.coding.analysis_radius,
                           lambda window: host + self._analysis(_pixels(window, stride))[1] <= budget)
    if tiled is None:
      memory.check(host + needed, f"encoding a {hw[1]}x{hw[0]} image with {self.bundle.name}, even in tiles,")
      raise AssertionError("unreachable: memory.check raises")  # pragma: no cover
    window, tile = tiled
    return self._analysis(_pixels(window, stride))[0], window, tile

  @property
  def _hyper_stream(self) -> str:
    """The stream whose symbols give the conditional stream's side information."""
    return next(name for name in self.coding.streams if name != self.coding.conditional)

  def compress(self, image: np.ndarray) -> bytes:
    """A file's bytes for an `HxWx3` uint8 RGB image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
      raise errors.ConfigError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if not (h <= container.MAX_SIDE_PX and w <= container.MAX_SIDE_PX and h * w <= container.MAX_PIXELS):
      raise memory.TooLarge(f"a {w}x{h} image is larger than the format allows ({container.MAX_PIXELS} pixels, "
                            f"{container.MAX_SIDE_PX} per side)")
    coding = self.coding
    latents = dict(zip(coding.encoded, self.encode(image), strict=True))
    encoded = {}
    for name in coding.streams:
      if name != coding.conditional:
        with phase("range_coding"):
          encoded[name] = self._coders[name].encode(latents[name], _channels(latents[name].shape))
    version = container.VERSION
    if coding.conditional is not None:
      version, encoded[coding.conditional] = self._encode_conditional(np.asarray(latents[coding.conditional]),
                                                                      latents[self._hyper_stream])
    streams = [encoded[name] for name in coding.streams]
    return container.pack(container.Coded(self.bundle.model_id, h, w, streams, version))

  def _encode_conditional(self, y: np.ndarray, z_sym: np.ndarray) -> tuple[int, bytes]:
    """`(format version, the conditional stream of the latent y)`, under the side information of
    `z_sym`: in the current version's precision or, where its sums would leave float64's exact
    integers (12 fewer bits of headroom), in version 2's."""
    for version in dict.fromkeys((container.VERSION, 2)):
      try:
        return version, self._conditional_stream(y, z_sym, PRECISION[version])
      except sideinfo.SideInfoError as e:
        error = e
    raise sideinfo.SideInfoError(f"{error}: the model cannot code this image") from None

  def _conditional_stream(self, y: np.ndarray, z_sym: np.ndarray, precision: sideinfo.Precision) -> bytes:
    coder = self._coders[self.coding.conditional]
    if self.coding.side_info == "autoregressive":
      with phase("side_info"):
        hyper, context = self._hyper_fixed(z_sym, y.shape[1:3], precision)[0], self._context(precision)
      return autoregressive.encode(context, coder, hyper, y)
    with phase("side_info"):
      mean, idx = self._side_info(z_sym, y.shape[1:3], precision)
    with phase("range_coding"):
      return coder.encode(np.round(y - mean).astype(np.int32), idx)

  def decompress(self, data: bytes) -> np.ndarray:
    """The `HxWx3` uint8 image of a file made with this bundle."""
    coded = container.unpack(data, len(self.streams), self.bundle.model_id)
    self._check_claim(coded)
    hw = (coded.height, coded.width)
    try:
      with phase("synthesis"):
        synthesis, window, tile = self._synthesis_within_budget(hw)
      _, args = self._symbols(coded)
      with phase("synthesis"):
        return self._synthesize(synthesis, window, tile, args, hw)
    except sideinfo.SideInfoError as e:  # decoded symbols no trained model produces
      raise StreamError(f"corrupt coded stream: {e}") from None

  def _synthesis_within_budget(self, hw: tuple[int, int]) -> tuple[jax.stages.Compiled, tuple[int, int], int | None]:
    """`(compiled synthesis, its latent window, tile)`: the whole image's, in its size bucket (tile
    None), if it fits the memory budget, else the largest of `tiling.TILES` whose overlapping window
    fits; `memory.TooLarge` if none does."""
    coding = self.coding
    shape = self._stream_shapes(*hw)[coding.conditional or self.streams[0]]
    whole = shape[1:3]
    if coding.zero_padded:
      whole = tuple(n // coding.latent_stride for n in self.bucket(*hw))
    compiled, needed = self._synthesis_and_memory(shape, whole)
    budget = memory.budget_bytes()
    if needed <= budget:
      return compiled, whole, None
    tiled = tiling.largest(shape[1:3], coding.synthesis_radius,
                           lambda window: self._synthesis_and_memory(shape, window)[1] <= budget)
    if tiled is None:
      memory.check(needed, f"decoding a {hw[1]}x{hw[0]} image with {self.bundle.name}, even in tiles,")
      raise AssertionError("unreachable: memory.check raises")  # pragma: no cover
    window, tile = tiled
    return self._synthesis_and_memory(shape, window)[0], window, tile

  @functools.lru_cache(maxsize=32)  # noqa: B019
  def _synthesis_and_memory(self, shape: tuple[int, ...],
                            window_hw: tuple[int, int]) -> tuple[jax.stages.Compiled, int]:
    """The synthesis compiled for a `window_hw` latent (a part of one of `shape`, or its size
    bucket), and the bytes that decoding the whole latent with it takes."""
    window = (1, *window_hw, shape[-1])
    args = [jax.ShapeDtypeStruct(window, jnp.int32)]
    if self.coding.conditional:
      args.append(jax.ShapeDtypeStruct(window, jnp.float32))
    traced = self._decode.trace(self._variables, *args, extent=jax.ShapeDtypeStruct((2,), jnp.int32),
                                image_hw=_pixels(window_hw, self.coding.latent_stride))
    compiled = traced.lower().compile()
    # The decoded symbols and the side information's float64 host arrays (hyper output, means,
    # scales, indices, symbols) cover the whole latent, tiled or not.
    host = 8 * (6 if self.coding.conditional else 1) * math.prod(shape)
    return compiled, host + _device_bytes(compiled) + memory.cpu_kernel_scratch_bytes(traced.jaxpr)

  def _synthesize(self, compiled: jax.stages.Compiled, window: tuple[int, int], tile: int | None, args: tuple,
                  hw: tuple[int, int]) -> np.ndarray:
    """The uint8 image's top-left `hw`: whole, the latents filled out to the `window` of its size
    bucket, or tile by tile (`jgc.codec.tiling`)."""
    args = [np.asarray(a) for a in args]
    if tile is None:
      x = compiled(self._variables, *(buckets.fill(a, window) for a in args),
                   extent=np.array(args[0].shape[1:3], np.int32))
      return _to_uint8(x[0])[:hw[0], :hw[1]]

    def run(*latents: np.ndarray) -> np.ndarray:
      return _to_uint8(compiled(self._variables, *latents, extent=np.array(window, np.int32))[0])

    coding = self.coding
    return tiling.synthesize(run, args, window, tile, coding.synthesis_radius, coding.latent_stride)[:hw[0], :hw[1]]

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
    shapes = self._stream_shapes(coded.height, coded.width)
    for name, stream in zip(self.streams, coded.streams, strict=True):
      count = math.prod(shapes[name])
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
      return self._symbols(coded)[0]
    except sideinfo.SideInfoError as e:
      raise StreamError(f"corrupt coded stream: {e}") from None

  def _symbols(self, coded: container.Coded) -> tuple[dict[str, np.ndarray], tuple]:
    """`(symbols per stream, the synthesis' arguments)` of a file."""
    coding, shapes = self.coding, self._stream_shapes(coded.height, coded.width)
    streams = dict(zip(coding.streams, coded.streams, strict=True))
    symbols = {}
    for name in coding.streams:
      if name != coding.conditional:
        with phase("range_coding"):
          symbols[name] = self._coders[name].decode(streams[name], _channels(shapes[name]))
    if coding.conditional is None:
      return symbols, (jnp.asarray(symbols[coding.streams[0]]),)
    y, z_sym, coder = coding.conditional, symbols[self._hyper_stream], self._coders[coding.conditional]
    precision = PRECISION[coded.version]
    if coding.side_info == "autoregressive":
      with phase("side_info"):
        hyper, context = self._hyper_fixed(z_sym, shapes[y][1:3], precision)[0], self._context(precision)
      symbols[y], mean = autoregressive.decode(context, coder, hyper, streams[y])
    else:
      with phase("side_info"):
        mean, idx = self._side_info(z_sym, shapes[y][1:3], precision)
      with phase("range_coding"):
        symbols[y] = coder.decode(streams[y], idx)
    return symbols, (jnp.asarray(symbols[y]), jnp.asarray(mean))

  def estimate_bits(self, image: np.ndarray) -> float:
    """The model's own rate estimate (evaluation forward, rounded latents), bits."""
    _, aux = self._forward(self._variables, _to_float(image))
    return float(sum(jnp.sum(b) for b in aux["bits_rounded"].values()))

  # Side information: exact fixed point (see `sideinfo`).

  def _z_fixed(self, z_sym: np.ndarray, precision: sideinfo.Precision) -> np.ndarray:
    prior = params_at(self.bundle.params, self.coding.factorized[self._hyper_stream].path)
    medians = np.asarray(prior["quantiles"])[:, 1]
    return np.asarray(z_sym, np.float64) * 2.0**precision.act_bits + sideinfo.to_fixed(medians, precision.act_bits)

  @functools.lru_cache(maxsize=2)  # noqa: B019
  def _fixed(self, precision: sideinfo.Precision) -> dict:
    """The fixed-point weights of the side-info networks (by position), and of the context model."""
    p, coding = self.bundle.params, self.coding
    fixed = {"nets": [sideinfo.fixed_weights(params_at(p, net.path), precision) for net in coding.nets]}
    if coding.context is not None:
      context = params_at(p, coding.context.conv)
      mask = np.asarray(causal_mask(context["kernel"].shape[0]))[:, :, None, None]
      masked = {"kernel": np.asarray(context["kernel"]) * mask, "bias": context["bias"]}
      fixed["context"] = sideinfo.fixed_weights({"masked": masked}, precision)
      fixed["entropy_parameters"] = sideinfo.fixed_weights(params_at(p, coding.context.parameters), precision)
    return fixed

  @functools.lru_cache(maxsize=2)  # noqa: B019
  def _context(self, precision: sideinfo.Precision) -> autoregressive.Context:
    """The autoregressive side information's nets after the hyper-synthesis."""
    # Host numpy: the per-position products are small matrix-vector ones.
    fixed = self._fixed(precision)
    masked = jax.tree.map(np.asarray, fixed["context"]["masked"])
    parameters = fixed["entropy_parameters"]
    layers = [jax.tree.map(np.asarray, parameters[name]) for name in self.coding.context.parameter_layers]
    # The context model and entropy parameters share the hyper-synthesis' activation.
    act, slope = self.coding.nets[0].activation, self.coding.nets[0].negative_slope
    return autoregressive.Context(masked, layers, act, slope, self.bundle.boundaries, precision)

  def _hyper_fixed(self, z_sym: np.ndarray, latent_hw: tuple[int, int],
                   precision: sideinfo.Precision) -> tuple[np.ndarray, np.ndarray | None]:
    """Fixed-point `(mean, scale)`, or `(the net's output, None)` where it holds both halves
    ("split") or feeds the context model ("autoregressive")."""
    z, bucket = self._z_fixed(z_sym, precision), self.bucket_px // self.coding.latent_stride
    outputs = [sideinfo.hyper_synthesis(net, w, z, latent_hw, precision, latent_bucket=bucket)
               for net, w in zip(self.coding.nets, self._fixed(precision)["nets"], strict=True)]
    if self.coding.side_info == "mean_and_scale":
      return outputs[0], outputs[1]
    if self.coding.side_info == "scale":
      return np.zeros_like(outputs[0]), outputs[0]
    return outputs[0], None

  def _side_info(self, z_sym: np.ndarray, latent_hw: tuple[int, int],
                 precision: sideinfo.Precision = PRECISION[container.VERSION]) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = self._hyper_fixed(z_sym, latent_hw, precision)
    if scale is None:
      mean, scale = np.split(mean, 2, axis=-1)
    return (sideinfo.from_fixed(mean, precision.act_bits),
            sideinfo.scale_indices(scale, self.bundle.boundaries, precision))


def _pixels(latent_hw: tuple[int, int], stride: int) -> tuple[int, int]:
  return latent_hw[0] * stride, latent_hw[1] * stride


def _device_bytes(compiled: jax.stages.Compiled) -> int:
  """What XLA says running `compiled` allocates beyond its (resident) arguments."""
  stats = compiled.memory_analysis()
  return stats.temp_size_in_bytes + stats.output_size_in_bytes if stats else 0


def _to_uint8(x: jax.Array) -> np.ndarray:
  # A corrupt stream can decode to NaN; it still becomes an image, never an error in the cast.
  return np.round(np.clip(np.nan_to_num(np.asarray(x)), 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_float(image: np.ndarray) -> jax.Array:
  return jnp.asarray(image, jnp.float32)[None] / 255.0
