"""Formats are frozen: files written by earlier builds still decode (tests/golden.py wrote them)."""

import os

import numpy as np
import pytest
from golden import DATA, image

from jgc.codec import bundle as bundles
from jgc.codec import compressor, container, sideinfo
from jgc.codec.compressor import Codec

KINDS = ("hific", "scale", "mean_scale", "autoregressive", "gc", "vaegan")


def _golden(kind: str, version: int) -> tuple[Codec, bytes, dict]:
  codec = Codec(bundles.load(os.path.join(DATA, f"{kind}.jgcm")))
  with open(os.path.join(DATA, f"{kind}.v{version}.jgc"), "rb") as f:
    data = f.read()
  return codec, data, dict(np.load(os.path.join(DATA, f"{kind}.v{version}.npz")))


@pytest.mark.parametrize("version", container.READS)
@pytest.mark.parametrize("kind", KINDS)
def test_old_files_decode_to_their_symbols_and_pixels(kind, version):
  codec, data, recorded = _golden(kind, version)
  assert data[:len(container.MAGIC)] == container.MAGIC and data[len(container.MAGIC)] == version
  symbols = codec.decode_symbols(data)
  assert sorted(symbols) == sorted(k.removeprefix("symbols_") for k in recorded if k.startswith("symbols_"))
  for name, value in symbols.items():
    np.testing.assert_array_equal(value, recorded[f"symbols_{name}"], err_msg=f"stream {name}")
  pixels = codec.decompress(data).astype(np.int32)
  assert pixels.shape == image().shape
  assert np.abs(pixels - recorded["pixels"]).max() <= 1


@pytest.mark.parametrize("bucket_px", [1, 128])
@pytest.mark.parametrize("kind", KINDS)
def test_encoding_still_writes_the_same_file(kind, bucket_px):
  codec, data, _ = _golden(kind, container.VERSION)
  # In a size bucket or not, the encoder computes the latents of the image's own size. Only float
  # rounding in the analysis transforms may move a latent across a rounding boundary (on another
  # backend, or after a change in XLA); if this fails, say so in the change.
  assert Codec(codec.bundle, bucket_px).compress(image()) == data


@pytest.mark.parametrize("kind", KINDS)
def test_versions_differ_only_where_they_say(kind):
  codec = _golden(kind, 1)[0]
  v1, v2, v3 = (container.unpack(_golden(kind, v)[1], len(codec.streams)) for v in (1, 2, 3))
  assert v1.streams == v2.streams  # version 2 changed only what the CRC covers
  assert (v1.height, v1.width) == (v2.height, v2.width) == (v3.height, v3.width)
  # Version 3 changed only the side information's precision: what is coded without it is the same.
  for name, old, new in zip(codec.streams, v2.streams, v3.streams, strict=True):
    if name != codec.coding.conditional:
      assert old == new, name


@pytest.mark.parametrize("kind", ["hific", "mean_scale", "autoregressive"])
def test_where_version_3s_sums_would_leave_the_exact_range_the_encoder_writes_version_2(kind, monkeypatch):
  codec, v2, _ = _golden(kind, 2)
  # 40 fractional bits: every sum of these weights would leave float64's exact integers.
  monkeypatch.setitem(compressor.PRECISION, 3, sideinfo.Precision(weight_bits=40, act_bits=30, rounded=True))
  assert Codec(codec.bundle).compress(image()) == v2
