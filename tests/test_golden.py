"""Formats are frozen: files written by earlier builds still decode (tests/golden.py wrote them)."""

import os

import numpy as np
import pytest
from golden import DATA, image

from jgc.codec import bundle as bundles
from jgc.codec import container
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


@pytest.mark.parametrize("kind", KINDS)
def test_encoding_still_writes_the_same_file(kind):
  codec, data, _ = _golden(kind, container.VERSION)
  # Only float rounding in the analysis transforms may move a latent across a rounding boundary
  # (on another backend, or after a change in XLA); if this fails, say so in the change.
  assert codec.compress(image()) == data


@pytest.mark.parametrize("bucket_px", [1, 128])
@pytest.mark.parametrize("kind", KINDS)
def test_format_v2_holds_the_streams_of_format_v1(kind, bucket_px):
  codec, v1, _ = _golden(kind, 1)
  # In a size bucket or not, the encoder computes the latents of the image's own size.
  data = Codec(codec.bundle, bucket_px).compress(image())
  assert container.unpack(data, len(codec.streams)).streams == container.unpack(v1, len(codec.streams)).streams
