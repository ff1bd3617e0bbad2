import io
import logging

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jgc.data import DataError, EncodedImages, embedded_samples, open_source, train_dataset
from jgc.data.preprocess import random_crop
from jgc.io import image_files
from jgc.training import defaults

KODAK = "../shared/data/kodak"


def _png(array, mode=None, fmt="PNG"):
  img = Image.fromarray(array)
  if mode:
    img = img.convert(mode)
  buf = io.BytesIO()
  img.save(buf, format=fmt)
  return buf.getvalue()


def _solid_source(n, size=40):
  """Image i is a flat colour that encodes i, so any crop of it names its source."""
  blobs = [_png(np.full((size, size + 7, 3), (i, 255 - i, 7), np.uint8)) for i in range(n)]
  return EncodedImages([f"solid{i}" for i in range(n)], blobs.__getitem__)


def _cfg(**kw):
  return ml_collections.ConfigDict({"folder": None, "tfds_name": None, "num_threads": 2, "prefetch": 8, **kw})


def _images(source):
  """Every image of a source, decoded whole."""
  return [image_files.decode(source[i][1], source[i][0])[0] for i in range(len(source))]


def _ids(batch):
  return [int(img[0, 0, 0]) for img in batch]


def test_embedded_samples_need_no_download_and_are_the_default():
  src = embedded_samples()
  assert len(src) == 6
  default = open_source(_cfg())
  names = [default[i][0] for i in range(len(default))]
  assert names[0] == "astronaut.png" and len(names) == 6
  ds, bad = train_dataset(_cfg(), batch_size=3, crop_px=64, seed=0)
  batch = next(iter(ds))
  assert batch.shape == (3, 64, 64, 3) and batch.dtype == np.uint8 and bad.count == 0


def test_random_crop_rescales_flips_and_upscales_small_images():
  rng = np.random.default_rng(0)
  image = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
  crops = [random_crop(image, 64, rng) for _ in range(20)]
  assert all(c.shape == (64, 64, 3) and c.dtype == np.uint8 for c in crops)
  assert len({c.tobytes() for c in crops}) == 20
  tiny = np.zeros((8, 5, 3), np.uint8)
  assert random_crop(tiny, 64, rng).shape == (64, 64, 3)
  # A horizontally asymmetric image shows both orientations across draws.
  ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3))
  signs = {np.sign(int(c[0, -1, 0]) - int(c[0, 0, 0])) for c in (random_crop(ramp, 64, rng) for _ in range(20))}
  assert signs == {-1, 1}


def test_two_hosts_get_disjoint_complete_shards():
  src = _solid_source(10)
  seen = []
  for host in range(2):
    ds, _ = train_dataset(_cfg(), batch_size=5, crop_px=16, seed=3, process_index=host,
                          process_count=2, source=src)
    seen.append(set(_ids(next(iter(ds)))))  # one batch = one epoch of this host's 5 images
  assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(10))


def test_order_is_deterministic_reshuffled_per_epoch_and_resumable():
  src = _solid_source(12)

  def make(seed):
    return iter(train_dataset(_cfg(), batch_size=4, crop_px=16, seed=seed, source=src)[0])

  a, b = make(0), make(0)
  first = [next(a) for _ in range(6)]
  for x in first:
    np.testing.assert_array_equal(x, next(b))
  epochs = [sum((_ids(x) for x in first[i:i + 3]), []) for i in (0, 3)]
  assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(12)) and epochs[0] != epochs[1]
  assert _ids(next(make(1))) != _ids(first[0])
  state = a.get_state()
  expected = [next(a) for _ in range(3)]
  c = make(0)
  c.set_state(state)
  for x in expected:
    np.testing.assert_array_equal(x, next(c))


def test_reader_threads_default_to_the_host_cores_and_do_not_change_the_batches():
  assert defaults.base().data.num_threads == defaults.host_cores() >= 1
  rng = np.random.default_rng(0)
  blobs = [_png(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(6)]
  src = EncodedImages([f"noise{i}" for i in range(6)], blobs.__getitem__)

  def batches(threads):
    it = iter(train_dataset(_cfg(num_threads=threads), batch_size=4, crop_px=16, seed=0, source=src)[0])
    return [next(it) for _ in range(6)]

  # Noise images: every crop's position and flip show, so a run resumed on another host reads the same crops.
  for one, four in zip(batches(1), batches(4), strict=True):
    np.testing.assert_array_equal(one, four)


def test_corrupt_records_are_skipped_counted_and_warned_once(caplog):
  good = _solid_source(4)
  blobs = [good[i][1] for i in range(4)] + [b"not an image", good[0][1][:60]]
  src = EncodedImages([f"r{i}" for i in range(6)], blobs.__getitem__)
  ds, bad = train_dataset(_cfg(), batch_size=4, crop_px=16, seed=0, source=src)
  with caplog.at_level(logging.WARNING):
    it = iter(ds)
    ids = sum((_ids(next(it)) for _ in range(4)), [])
  assert set(ids) == {0, 1, 2, 3}
  assert bad.count == 2
  assert sum("r4" in r.message for r in caplog.records) == 1


@pytest.fixture
def messy_folder(tmp_path):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
  (tmp_path / "sub").mkdir()
  (tmp_path / "rgb.png").write_bytes(_png(rgb))
  (tmp_path / "sub" / "photo.jpg").write_bytes(_png(rgb, fmt="JPEG"))
  (tmp_path / "gray.png").write_bytes(_png(rgb[..., 0]))
  (tmp_path / "rgba.png").write_bytes(_png(np.dstack([rgb, rgb[..., :1]])))
  (tmp_path / "deep.png").write_bytes(_png(rgb[..., 0].astype(np.uint16) * 257))
  (tmp_path / "cmyk.jpg").write_bytes(_png(rgb, "CMYK", "JPEG"))
  (tmp_path / "small.webp").write_bytes(_png(rgb[:3, :2], fmt="WEBP"))
  (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
  (tmp_path / "truncated.jpg").write_bytes(_png(rgb, fmt="JPEG")[:200])
  (tmp_path / "notes.txt").write_text("not an image")
  return tmp_path


def test_folder_is_prepared_with_conversions_and_skips(messy_folder, tmp_path_factory, caplog):
  cache = str(tmp_path_factory.mktemp("cache"))
  cfg = _cfg(folder=str(messy_folder), cache_dir=cache)
  with caplog.at_level(logging.WARNING):
    src = open_source(cfg)
  assert len(src) == 7
  messages = " ".join(r.message for r in caplog.records)
  for name in ("corrupt.png", "truncated.jpg", "rgba.png", "deep.png"):
    assert name in messages
  assert "2 of 9 files skipped" in messages
  images = _images(src)
  assert all(img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 for img in images)
  assert {img.shape[:2] for img in images} == {(48, 64), (3, 2)}
  batch = next(iter(train_dataset(cfg, batch_size=7, crop_px=32, seed=0, source=src)[0]))
  assert batch.shape == (7, 32, 32, 3)


def test_prepared_folder_reads_back_by_tfds_name(messy_folder, tmp_path_factory):
  cache = str(tmp_path_factory.mktemp("cache"))
  from jgc.data import folder

  name, data_dir = folder.prepare(str(messy_folder), cache)
  src = open_source(_cfg(tfds_name=name, data_dir=data_dir))
  assert len(src) == 7
  with pytest.raises(DataError, match="no feature 'img'"):
    open_source(_cfg(tfds_name=name, data_dir=data_dir, image_key="img"))


def test_unusable_datasets_fail_before_training(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    open_source(_cfg(folder=str(tmp_path / "missing")))
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="holds no images"):
    open_source(_cfg(folder=str(tmp_path / "empty")))
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "a.png").write_bytes(b"junk")
  with pytest.raises(DataError, match="no readable images"):
    open_source(_cfg(folder=str(tmp_path / "junk"), cache_dir=str(tmp_path / "cache")))
  with pytest.raises(DataError, match="unknown TFDS dataset"):
    open_source(_cfg(tfds_name="no_such_dataset_xyz"))
  with pytest.raises(DataError, match="not both"):
    open_source(_cfg(tfds_name="a", folder="b"))


def test_kodak_folder_reads_whole_images_unchanged(tmp_path):
  import os

  if not os.path.isdir(KODAK):
    pytest.fail(f"{KODAK} is missing: run tests from the project root beside ../shared")
  cfg = _cfg(folder=KODAK, cache_dir=str(tmp_path))
  got = {img.tobytes(): img.shape for img in _images(open_source(cfg))}
  files = sorted(f for f in os.listdir(KODAK) if f.endswith(".png"))
  want = {image_files.read(os.path.join(KODAK, f))[0].tobytes() for f in files}
  assert len(got) == len(files) == 24 and set(got) == want
  assert set(got.values()) == {(512, 768, 3), (768, 512, 3)}
