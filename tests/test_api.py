"""`jgc.load`: the public codec object."""

import numpy as np
import pytest
from codec_helpers import bundle_bytes
from PIL import Image

import jgc
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec.compressor import Codec


@pytest.fixture(scope="module")
def path(tmp_path_factory):
  p = tmp_path_factory.mktemp("api") / "model.jgcm"
  p.write_bytes(bundle_bytes("mean_scale"))
  return p


def test_load_compress_decompress_and_estimate(path):
  model = jgc.load(path)
  image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), np.uint8)
  data = model.compress(image)
  codec = Codec(bundles.load(str(path)))
  assert data == codec.compress(image)
  np.testing.assert_array_equal(model.decompress(data), codec.decompress(data))
  assert model.name == "hyperprior" and model.model_id == codec.bundle.model_id.hex()
  coded_bpp = 8 * (len(data) - container.header_size(data, 2)) / (40 * 56)
  assert abs(model.estimate_bpp(image) - coded_bpp) < 0.05 * coded_bpp + 0.1


def test_pillow_images_of_any_mode_and_bad_arrays(path):
  model = jgc.load(str(path))
  gray = Image.fromarray(np.full((24, 24), 90, np.uint8))
  assert model.decompress(model.compress(gray)).shape == (24, 24, 3)
  with pytest.raises(ValueError, match="HxWx3 uint8"):
    model.compress(np.zeros((24, 24), np.float32))
  with pytest.raises(bundles.BundleError, match="cannot read model bundle"):
    jgc.load(path.parent / "missing.jgcm")
