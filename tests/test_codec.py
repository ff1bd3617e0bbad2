"""Compress and decompress: round trips for every model, exact side info,
bad input, fuzzing, and the container's limits."""

import functools
import json
import os
import struct
import subprocess
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from codec_helpers import CONFIGS, ROOT, bundle, bundle_bytes
from flax import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_helpers import float_side_info
from skimage import data as skdata

from jgc.codec import bundle as bundles
from jgc.codec import container, memory, phases, sideinfo, tiling
from jgc.codec.coder import StreamError
from jgc.codec.compressor import Codec
from jgc.entropy import scale_index
from jgc.models import build_model, convs, hific, hyper, hyperprior
from jgc.training import export

PHOTO = skdata.astronaut()[100:180, 150:260]  # 80 x 110: not a multiple of any factor


@functools.cache
def codec(kind: str, seed: int = 0) -> Codec:
  return Codec(bundle(kind, seed))


def _eval_reconstruction(c: Codec, image: np.ndarray) -> np.ndarray:
  x_hat, _ = c.bundle.model.apply({"params": c.bundle.params}, jnp.asarray(image, jnp.float32)[None] / 255,
                                  train=False)
  return np.round(np.clip(np.asarray(x_hat[0]), 0, 1) * 255)


@functools.cache
def exact(kind: str) -> Codec:
  """A codec that compiles for every size: no bucket beyond the model's stride."""
  return Codec(bundle(kind), bucket_px=1)


@pytest.mark.parametrize("kind", list(CONFIGS))
@pytest.mark.parametrize("shape", [(80, 110), (1, 1), (17, 3)])
def test_every_model_round_trips(kind, shape):
  c = codec(kind)
  image = PHOTO[: shape[0], : shape[1]]
  data = c.compress(image)
  decoded = c.decompress(data)
  assert decoded.shape == image.shape and decoded.dtype == np.uint8
  # In its size bucket, the decoder computes what it computes at the image's own size.
  assert np.abs(decoded.astype(int) - exact(kind).decompress(data)).max() <= 1
  # The file decodes to what the float model reconstructs, up to the rare
  # symbols that the fixed-point means round the other way (a desynchronized
  # stream would be garbage everywhere).
  diff = np.abs(decoded.astype(float) - _eval_reconstruction(c, image))
  if kind == "autoregressive":  # its parallel forward rounds around zero, its coding around the mean
    assert diff.mean() < 8
  else:
    assert diff.mean() < 0.5


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "scale"])
def test_fixed_point_side_info_matches_the_float_model(kind):
  c = codec(kind)
  x = jnp.asarray(PHOTO, jnp.float32)[None] / 255
  variables = {"params": c.bundle.params}
  y, z_sym = c.bundle.model.apply(variables, x, method="encode_latents")
  mean, idx = c._side_info(np.asarray(z_sym), y.shape[1:3])
  ref_mean, ref_idx = float_side_info(c.bundle.model, variables, z_sym, y.shape[1:3])
  np.testing.assert_allclose(mean, ref_mean, atol=1e-4)  # format version 3's precision
  assert np.mean(idx == np.asarray(ref_idx)) > 0.99
  assert np.all(np.abs(idx - np.asarray(ref_idx)) <= 1)


def _renamed(tree: dict, nets: dict[str, dict[str, str]]) -> dict:
  """`tree` with the layers of each net named in `nets` renamed, wherever the net sits."""
  return {k: ({nets[k].get(name, name): layer for name, layer in v.items()} if k in nets else _renamed(v, nets))
          if isinstance(v, dict) else v for k, v in tree.items()}


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "autoregressive"])
def test_renaming_the_side_information_layers_changes_no_coded_bit(kind, monkeypatch):
  # The codec finds the side-information nets' layers by the names each model declares in its
  # coding, never by Flax's automatic names: renamed layers code exactly the same streams.
  original = bundle(kind)
  photo = PHOTO[:48, :64]
  data = Codec(original).compress(photo)
  names = {"ConvTranspose_0": "upsample_a", "ConvTranspose_1": "upsample_b", "Conv_0": "last"}
  parameter_names = {"Conv_0": "parameters_a", "Conv_1": "parameters_b", "Conv_2": "parameters_c"}
  for module in (hyper, hific, hyperprior):
    monkeypatch.setattr(module, "SYNTHESIS_LAYERS", tuple(names.values()))
  monkeypatch.setattr(hyperprior, "PARAMETER_LAYERS", tuple(parameter_names.values()))
  params = _renamed(original.params, {"mean_synthesis": names, "scale_synthesis": names, "hyper_synthesis": names,
                                      "entropy_parameters": parameter_names})
  renamed = bundles.parse(bundles.build(CONFIGS[kind], params))
  assert renamed.model_id != original.model_id  # the names are part of what the id hashes
  assert renamed.coding.nets[0].layers == tuple(names.values())
  again = Codec(renamed).compress(photo)
  num = len(original.coding.streams)
  assert container.unpack(again, num).streams == container.unpack(data, num).streams
  np.testing.assert_array_equal(Codec(renamed).decompress(again), Codec(original).decompress(data))


def test_scale_indices_are_exact_comparisons():
  boundaries = np.asarray(bundle("hific").boundaries)
  probe = np.concatenate([boundaries, np.nextafter(boundaries, np.inf), [0.0, 1e9, -3.0]]).astype(np.float32)
  for precision in (sideinfo.COARSE, sideinfo.FINE):
    fixed = probe.astype(np.float64) * 2.0**precision.act_bits  # exact: float32 values scaled by a power of 2
    np.testing.assert_array_equal(sideinfo.scale_indices(fixed, boundaries, precision), np.asarray(scale_index(probe)))


def test_wrong_model_is_named():
  data = codec("hific").compress(PHOTO)
  other = codec("hific", seed=7)
  with pytest.raises(container.FormatError, match=f"made with model {bundle('hific').model_id.hex()}.*"
                     f"model given is {other.bundle.model_id.hex()}"):
    other.decompress(data)


# What the hyperprior models' coding runs: encoding, then decoding.
_HYPER_PHASES = ({"analysis", "hyper_analysis", "side_info", "range_coding"},
                 {"side_info", "range_coding", "synthesis"})


@pytest.mark.parametrize(("kind", "encoding_phases", "decoding_phases"),
                         [("mean_scale", *_HYPER_PHASES), ("autoregressive", *_HYPER_PHASES),
                          ("vaegan", {"analysis", "range_coding"}, {"range_coding", "synthesis"})])
def test_phases_are_timed_only_while_recording(kind, encoding_phases, decoding_phases):
  c = codec(kind)
  with phases.recording() as encoding:
    data = c.compress(PHOTO[:32, :48])
  with phases.recording() as decoding:
    image = c.decompress(data)
  assert isinstance(data, bytes) and image.shape == (32, 48, 3)
  assert set(encoding) == encoding_phases and set(decoding) == decoding_phases
  assert all(s > 0 for s in (*encoding.values(), *decoding.values()))
  before = dict(encoding)
  c.compress(PHOTO[:32, :48])
  assert encoding == before


def test_every_truncation_and_every_flipped_bit_is_a_clear_error():
  c = codec("mean_scale")
  data = c.compress(PHOTO[:32, :48])
  assert container.header_size(data, 2) <= 32
  for n in range(len(data)):
    with pytest.raises(container.FormatError):
      c.decompress(data[:n])
  # The CRC covers the header too: a flip in a stream length, the image size or a stream is caught,
  # and named as corruption rather than decoded.
  for bit in range(8 * len(data)):
    corrupt = bytearray(data)
    corrupt[bit // 8] ^= 1 << bit % 8
    with pytest.raises(container.FormatError, match="CRC-32|not a jgc file|format version|made with model"):
      c.decompress(bytes(corrupt))
  with pytest.raises(container.FormatError, match="empty file"):
    c.decompress(b"")
  with pytest.raises(container.FormatError, match="not a jgc file"):
    c.decompress(b"\x89PNG\r\n\x1a\n" + bytes(40))


def test_header_sizes_are_bounded_before_any_allocation():
  model_id = bundle("hific").model_id
  huge = container.pack(container.Coded(model_id, 1 << 19, 1 << 19, [b"", b""]))
  with pytest.raises(container.FormatError, match="out of range"):
    container.unpack(huge, 2)
  endless = _with_valid_crc(container.MAGIC + bytes([container.VERSION]) + model_id + bytes(4) + b"\xff" * 20)
  with pytest.raises(container.FormatError, match="not a valid number"):
    container.unpack(endless, 2)


def _with_valid_crc(data: bytes) -> bytes:
  """`data` with the CRC-32 that format v2 computes over all but its own four bytes."""
  return data[:12] + struct.pack("<I", zlib.crc32(data[16:], zlib.crc32(data[:12]))) + data[16:]


def _decodes_or_fails_cleanly(c: Codec, data: bytes) -> None:
  try:
    image = c.decompress(data)
  except (container.FormatError, StreamError):
    return
  assert image.dtype == np.uint8 and image.ndim == 3


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=60, **FUZZ)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(blob):
  c = codec("mean_scale")
  _decodes_or_fails_cleanly(c, blob)
  _decodes_or_fails_cleanly(c, b"JGC\x01" + c.bundle.model_id + blob)
  _decodes_or_fails_cleanly(c, _with_valid_crc(b"JGC\x02" + c.bundle.model_id + bytes(4) + blob))


def _fuzz_streams(positions, values, kind):
  c = codec(kind)
  data = c.compress(PHOTO[:32, :48])
  header = container.header_size(data, len(c.streams))
  corrupt = bytearray(data)
  for p, v in zip(positions, values, strict=False):
    corrupt[header + p % (len(data) - header)] = v
  # A valid CRC takes the corruption past the container, into the range decoder.
  _decodes_or_fails_cleanly(c, _with_valid_crc(bytes(corrupt)))


@settings(max_examples=40, **FUZZ)
@given(st.lists(st.integers(0, 1 << 16), min_size=1, max_size=8), st.lists(st.integers(0, 255), min_size=8, max_size=8),
       st.sampled_from(["mean_scale", "hific", "gc"]))
def test_fuzz_coded_streams_behind_a_valid_crc(positions, values, kind):
  _fuzz_streams(positions, values, kind)


@pytest.mark.slow
@settings(max_examples=2000, **FUZZ)
@given(st.lists(st.integers(0, 1 << 16), min_size=1, max_size=32),
       st.lists(st.integers(0, 255), min_size=32, max_size=32),
       st.sampled_from(list(CONFIGS)))
def test_fuzz_coded_streams_long(positions, values, kind):
  _fuzz_streams(positions, values, kind)


@pytest.mark.parametrize("kind", ["hific", "gc"])
def test_a_header_claiming_more_symbols_than_its_streams_hold_is_refused_at_once(kind, monkeypatch):
  c = codec(kind)
  coded = container.unpack(c.compress(PHOTO[:32, :48]), len(c.streams))
  claim = container.pack(container.Coded(coded.model_id, 8192, 8192, [s[:4] for s in coded.streams]))
  # Refused before the synthesis is compiled or anything is allocated for the claim.
  monkeypatch.setattr(Codec, "_synthesis_within_budget", lambda *_: pytest.fail("compiled for the claim"))
  with pytest.raises(container.FormatError, match=r"claims 8192x8192 pixels, \d+ symbols in stream '\w+', "
                                                  r"more than its 4 bytes"):
    c.decompress(claim)


def test_a_header_claiming_more_than_the_memory_budget_is_refused_before_decoding(monkeypatch):
  c = codec("hific")
  coded = container.unpack(c.compress(PHOTO[:32, :48]), 2)
  # Streams long enough to hold the claimed symbols, so that the memory budget is what refuses it.
  claim = container.pack(container.Coded(coded.model_id, 16384, 16384, [s + bytes(1 << 20) for s in coded.streams]))
  # Its symbols and side information alone take more than 0.2 GiB, so no tile fits either.
  monkeypatch.setenv(memory.BUDGET_ENV, "0.2")
  with pytest.raises(memory.TooLarge, match=r"16384x16384 image with hific, even in tiles, needs about [\d.]+ GiB; "
                                            r"the budget is 0\.20"):
    c.decompress(claim)
  monkeypatch.setenv(memory.BUDGET_ENV, "lots")
  with pytest.raises(ValueError, match="not a number of GiB"):
    c.decompress(claim)


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "gc"])
def test_beyond_the_memory_budget_images_decode_in_tiles_as_a_whole(kind, monkeypatch):
  c = codec(kind)
  image = skdata.astronaut()[:256, :320]
  data = c.compress(image)
  whole = c.decompress(data)
  # A budget just under the whole image's synthesis; windows of 4 + 2 x radius latents fit it.
  shape = c._stream_shapes(256, 320)[c.coding.conditional or c.streams[0]]
  needed = c._synthesis_and_memory(shape, shape[1:3])[1]
  monkeypatch.setenv(memory.BUDGET_ENV, str((needed - 1) / 2**30))
  monkeypatch.setattr(tiling, "TILES", (4,))
  assert c._synthesis_within_budget((256, 320))[2] == 4
  tiled = c.decompress(data)
  assert np.abs(tiled.astype(np.int32) - whole).max() <= 1


LARGE = """
import json, sys
import jax
import numpy as np
from PIL import Image
from skimage import data
from configs import hific
from jgc.codec import bundle, compressor
from jgc.models import build_model
cfg = hific.get_config("tiny").model.to_dict()
x = jax.numpy.zeros((1, 64, 64, 3))
params = build_model(cfg).init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x, train=False)["params"]
codec = compressor.Codec(bundle.parse(bundle.build(cfg, params)))
image = np.asarray(Image.fromarray(data.astronaut()).resize((4096, 4096)))
decoded = codec.decompress(codec.compress(image))
print(json.dumps({"shape": decoded.shape, "analysis_tile": codec._analysis_within_budget((4096, 4096))[2],
                  "synthesis_tile": codec._synthesis_within_budget((4096, 4096))[2]}))
"""


def test_a_4096x4096_image_codes_within_the_budget_not_into_an_abort():
  # XLA's own estimate of the whole synthesis is 1.2 GiB, but XLA:CPU's 7x7 output convolution asks
  # Eigen for 26 GB at once: std::bad_alloc, an abort. Counted, it makes the decoder tile; the
  # encoder's first convolution asks 10 GB, so it tiles too.
  env = {**os.environ, "JAX_PLATFORMS": "cpu", memory.BUDGET_ENV: "8", "PYTHONPATH": ROOT}
  out = subprocess.run([sys.executable, "-c", LARGE], env=env, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-2000:]
  assert json.loads(out.stdout.splitlines()[-1]) == {"shape": [4096, 4096, 3], "analysis_tile": 128,
                                                     "synthesis_tile": 128}


def test_an_image_beyond_the_encoders_budget_is_refused_by_name(monkeypatch):
  monkeypatch.setenv(memory.BUDGET_ENV, "0.0001")  # less than the image itself
  with pytest.raises(memory.TooLarge, match=r"encoding a 640x512 image with hific, even in tiles, needs about "
                                            r"[\d.]+ GiB; the budget is 0\.00 GiB"):
    codec("hific").compress(np.zeros((512, 640, 3), np.uint8))


@settings(max_examples=6, **FUZZ)
@given(st.integers(1, container.MAX_SIDE_PX), st.integers(1, container.MAX_SIDE_PX), st.integers(0, 64),
       st.sampled_from(["mean_scale", "hific", "gc"]))
def test_fuzz_header_fields_behind_a_valid_crc(height, width, split, kind):
  c = codec(kind)
  coded = container.unpack(c.compress(PHOTO[:32, :48]), len(c.streams))
  body = b"".join(coded.streams)
  streams = [body[:split], body[split:]] if len(c.streams) == 2 else [body]
  data = container.pack(container.Coded(coded.model_id, height, width, streams))
  # Small enough that whatever fits decodes in moments; the rest must be refused, never abort.
  with pytest.MonkeyPatch.context() as m:
    m.setenv(memory.BUDGET_ENV, "0.25")
    try:
      _decodes_or_fails_cleanly(c, data)
    except (memory.TooLarge, container.FormatError):
      pass


def test_bad_bundles_are_named(tmp_path):
  good = bundle_bytes("gc")
  with pytest.raises(bundles.BundleError, match="not a jgc model bundle"):
    bundles.parse(b"PK\x03\x04" + good[8:])
  with pytest.raises(bundles.BundleError, match="corrupt model bundle"):
    bundles.parse(good[: len(good) // 2])
  with pytest.raises(bundles.BundleError, match="cannot read model bundle"):
    bundles.load(str(tmp_path / "missing.jgcm"))
  with pytest.raises(bundles.BundleError, match="cannot be exported"):
    bundles.build({"name": "nothing"}, {})
  with pytest.raises(bundles.BundleError, match="no config.json"):
    export.export(str(tmp_path), str(tmp_path / "m.jgcm"))


def _altered(kind: str, change) -> bytes:
  """A bundle of `kind` whose msgpack tree `change` edited in place."""
  tree = serialization.msgpack_restore(bundle_bytes(kind)[len(bundles.MAGIC):])
  change(tree)
  return bundles.MAGIC + serialization.msgpack_serialize(tree)


def _model_block(**fields):
  def change(tree):
    tree["model"] = json.dumps({**json.loads(tree["model"]), **fields})
  return change


BAD_BUNDLES = {
    "missing parameter": (lambda t: t["params"]["hyperprior"].pop("mean_synthesis"),
                          r"do not fit its hific model: \['hyperprior'\]\['mean_synthesis'\].* is missing"),
    "misshapen parameter": (lambda t: t["params"]["encoder"]["Conv_0"].update(bias=np.zeros(5, np.float32)),
                            r"\['encoder'\]\['Conv_0'\]\['bias'\] is \(5,\), not \(4,\)"),
    "extra parameter": (lambda t: t["params"].update(extra={"w": np.zeros(1, np.float32)}),
                        r"\['extra'\]\['w'\] is not in the model"),
    "NaN parameter": (lambda t: t["params"]["encoder"]["Conv_0"].update(bias=np.full(4, np.nan, np.float32)),
                      "not finite float32"),
    "missing table": (lambda t: t["tables"].pop("y"), r"tables for streams \['z'\]; its model codes \['z', 'y'\]"),
    "short boundaries": (lambda t: t.update(boundaries=t["boundaries"][:10]), r"boundaries of shape \(10,\)"),
    "unknown model": (_model_block(name="jpeg"), "model 'jpeg', which jgc cannot code"),
    "unknown field": (_model_block(colour="blue"), "model block jgc cannot build"),
    "bad field value": (_model_block(padding="SIDEWAYS"), "model block jgc cannot build"),
    "params not a map": (lambda t: t.update(params=[1, 2]), "not maps"),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_bundles_whose_parts_do_not_fit_their_model_are_refused_by_name(case):
  change, message = BAD_BUNDLES[case]
  with pytest.raises(bundles.BundleError, match=message):
    bundles.parse(_altered("hific", change), "m.jgcm")


@pytest.mark.parametrize("precision", [sideinfo.COARSE, sideinfo.FINE])
@pytest.mark.parametrize("padding", ["SAME", "TORCH"])
def test_fixed_point_transposed_conv_equals_the_native_one_exactly(padding, precision):
  rng = np.random.default_rng(0)
  x = np.round(rng.normal(size=(2, 5, 7, 3)) * 2**12)
  kernel = np.round(rng.normal(size=(5, 5, 3, 4)) * 2**12)
  with jax.enable_x64(True):
    # TORCH's alignment itself is checked against PyTorch's definition in test_convs.
    pads = "SAME" if padding == "SAME" else [convs.transpose_padding(5, 2, padding)] * 2
    ref = np.asarray(jax.lax.conv_transpose(jnp.asarray(x), jnp.asarray(kernel), (2, 2), pads,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")))
    weights = {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(4), "l1": float(np.abs(kernel).sum((0, 1, 2)).max())}
    ours, bound = sideinfo._layer("transpose", weights, jnp.asarray(x), None, 0.2, padding, precision)
  half = 2.0 ** (precision.weight_bits - 1) if precision.rounded else 0.0
  np.testing.assert_array_equal(np.asarray(ours), np.floor((ref + half) / 2.0**precision.weight_bits))
  assert np.abs(ref).max() <= float(bound)  # the bound holds every sum


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_in_a_size_bucket_the_encoder_computes_the_latents_of_the_images_own_size(kind):
  # Odd latent sizes included: there a strided "SAME" convolution pads otherwise (see buckets.align).
  for h, w in [(80, 110), (17, 3), (47, 59), (100, 300), (63, 65)]:
    for a, b in zip(codec(kind).encode(PHOTO[:h, :w] if h <= 80 else skdata.astronaut()[:h, :w]),
                    exact(kind).encode(PHOTO[:h, :w] if h <= 80 else skdata.astronaut()[:h, :w]), strict=True):
      assert a.shape == b.shape and a.dtype == b.dtype
      if a.dtype == np.float32:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
      else:  # float sums in another order may move a rare latent across a rounding boundary
        assert np.mean(a != b) < 1e-3, (h, w)


@functools.cache
def _torch_padded_hific() -> bundles.Bundle:
  """A narrow HiFiC as NeuralCompression pads it ("TORCH"), with CompressAI's prior widths; y
  scaled up so that its symbols and the pixels decoded from them vary."""
  cfg = {**CONFIGS["hific"], "padding": "TORCH", "prior_filters": (3, 3, 3, 3)}
  params = build_model(cfg).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)["params"]
  for path, gain in ((("encoder", "Conv_5"), 30.0), (("hyperprior", "analysis", "Conv_2"), 3.0)):
    parent = params[path[0]] if len(path) == 2 else params[path[0]][path[1]]
    parent[path[-1]] = {"kernel": gain * parent[path[-1]]["kernel"], "bias": parent[path[-1]]["bias"]}
  return bundles.parse(bundles.build(cfg, params))


def test_torch_padded_hific_codes_in_size_buckets_as_at_the_images_own_size():
  # "TORCH" pads a fixed k // 2 before every conv and zeros after, so zeroing beyond the image's
  # extent is the whole of what a bucket changes: no `buckets.align` needed, and `zero_padded` holds.
  bundle = _torch_padded_hific()
  assert bundle.coding.zero_padded
  bucketed, own = Codec(bundle), Codec(bundle, bucket_px=1)
  z_symbols = []
  for h, w in [(47, 59), (17, 3)]:  # odd sizes, several latents and less than one
    image = PHOTO[:h, :w]
    latents = bucketed.encode(image)
    for a, b in zip(latents, own.encode(image), strict=True):
      if a.dtype == np.float32:  # y spans about +-40: float sums in another order differ by ~1e-5
        assert np.abs(a - b).max() < 1e-6 * np.abs(b).max() + 1e-5, (h, w)
      else:
        assert np.mean(a != b) < 1e-3, (h, w)
    z_symbols.append(np.abs(latents[1]).max())
    data = bucketed.compress(image)
    decoded = bucketed.decompress(data)
    assert np.abs(decoded.astype(int) - own.decompress(data)).max() <= 1, (h, w)
    assert np.abs(decoded.astype(float) - _eval_reconstruction(bucketed, image)).mean() < 0.5, (h, w)
  assert max(z_symbols) > 0, "no hyper-latent symbol other than 0: the test would test little"


@pytest.mark.parametrize("kind", ["hific", "mean_scale"])  # GC and VAE-GAN have HiFiC's encoder
def test_one_pixel_block_reaches_no_further_than_the_declared_analysis_radius(kind):
  c = codec(kind)
  radius, stride = c.coding.analysis_radius, c.coding.latent_stride
  side = 2 * radius + 5
  image = skdata.astronaut()[:side * stride, :side * stride]
  bumped = image.copy()
  centre = slice(side // 2 * stride, (side // 2 + 1) * stride)
  bumped[centre, centre] = np.random.default_rng(0).integers(0, 256, (stride, stride, 3))
  def first(x):
    return np.asarray(c._analyze(c._variables, jnp.asarray(x, jnp.float32)[None] / 255, np.array((side, side))))
  changed = np.abs(first(bumped) - first(image))[0].max(-1) > 0
  rows, cols = np.nonzero(changed)
  assert rows.size, "the bumped pixels changed nothing"
  lo, hi = side // 2 - radius, side // 2 + radius
  assert lo <= rows.min() and rows.max() <= hi and lo <= cols.min() and cols.max() <= hi


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "gc"])
def test_beyond_the_memory_budget_images_encode_in_tiles_as_a_whole(kind, monkeypatch):
  c = exact(kind)
  image = skdata.astronaut()[:256, :320]
  whole = c.encode(image)
  _, needed = c._analysis((256, 320))
  monkeypatch.setenv(memory.BUDGET_ENV, str(needed / 2**30))  # the whole image's analysis and its host arrays exceed it
  monkeypatch.setattr(tiling, "TILES", (4,))
  assert c._analysis_within_budget((256, 320))[2] == 4
  for a, b in zip(c.encode(image), whole, strict=True):
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == np.float32:  # the same sums, maybe in another order
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    else:  # which may move a rare latent across a rounding boundary
      assert np.mean(a != b) < 1e-3


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "gc", "vaegan"])
def test_one_latent_reaches_no_further_than_the_declared_synthesis_radius(kind):
  c = codec(kind)
  radius, stride = c.coding.synthesis_radius, c.coding.latent_stride
  side = 2 * radius + 5
  name = c.coding.conditional or c.streams[0]
  # A photo's symbols, so that the reconstruction is not clipped flat around the bumped one.
  base = c.decode_symbols(c.compress(skdata.astronaut()[:side * stride, :side * stride]))[name]
  bumped = base.copy()
  bumped[0, side // 2, side // 2] = (bumped[0, side // 2, side // 2] + 1) % 3 if kind == "gc" else 3
  mean = np.zeros(base.shape, np.float32)
  args = (lambda s: (s, mean)) if c.coding.conditional else (lambda s: (s,))
  decode = functools.partial(c._decode, c._variables, extent=np.array((side, side)), image_hw=(side * stride,) * 2)
  changed = np.abs(np.asarray(decode(*args(bumped))) - np.asarray(decode(*args(base))))[0].max(-1) > 1e-6
  rows, cols = np.nonzero(changed)
  assert rows.size, "the bumped latent changed nothing"
  lo, hi = (side // 2 - radius) * stride, (side // 2 + radius + 1) * stride
  assert lo <= rows.min() and rows.max() < hi and lo <= cols.min() and cols.max() < hi
