"""Where images come from: random-access sources of encoded image bytes.

One path for everything: `tfds.data_source` over array_record files, read by
grain. It needs no TensorFlow (tf.data would), gives random access (so the
order is a pure function of the seed and the step, and resuming is exact),
and scales from a laptop to a pod with per-host slicing. A local folder is
prepared once into the same format (`folder.py`); the embedded sample set is
six photos that scikit-image ships inside its wheel.
"""

import os
from collections.abc import Callable, Sequence

import ml_collections
import skimage
import tensorflow_datasets as tfds

from jgc.data import folder
from jgc.data.errors import DataError
from jgc.io import paths

SAMPLE_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                "motorcycle_left.png", "motorcycle_right.png")


class EncodedImages:
  """A random-access source: `source[i]` is `(name, encoded bytes)`."""

  def __init__(self, names: Sequence[str], read: Callable[[int], bytes]) -> None:
    self._names = list(names)
    self._read = read

  def __len__(self) -> int:
    return len(self._names)

  def __getitem__(self, i: int) -> tuple[str, bytes]:
    return self._names[i], self._read(i)


def embedded_samples() -> EncodedImages:
  """The six natural photos bundled with scikit-image; no download."""
  root = os.path.join(os.path.dirname(skimage.__file__), "data")
  paths = [os.path.join(root, f) for f in SAMPLE_FILES]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise DataError(f"scikit-image's bundled photos are missing: {missing}")
  blobs = []
  for p in paths:
    with open(p, "rb") as f:
      blobs.append(f.read())
  return EncodedImages(SAMPLE_FILES, blobs.__getitem__)


def tfds_images(name: str, split: str, data_dir: str | None, image_key: str = "image") -> EncodedImages:
  """Any TFDS image dataset prepared as array_record, read without decoding.

  `data_dir` may be a gs:// URL; TFDS and ArrayRecord then read the bucket themselves.
  """
  if data_dir:
    paths.resolve(data_dir)  # gcsfs present, and the emulator followed if one is set
  try:
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(f"unknown TFDS dataset {name!r}") from None
  features = builder.info.features
  if image_key not in features:
    raise DataError(f"TFDS dataset {name!r} has no feature {image_key!r}; it has {sorted(features)}")
  try:
    source = tfds.data_source(
        name, split=split, data_dir=data_dir,
        decoders={image_key: tfds.decode.SkipDecoding()})
  except (AssertionError, FileNotFoundError, ValueError) as e:
    raise DataError(
        f"TFDS dataset {name!r} (split {split!r}) is not prepared as array_record in "
        f"data_dir={data_dir!r}: {e}. Prepare it with tfds.builder({name!r}, data_dir=..., "
        "file_format='array_record').download_and_prepare()") from None
  if len(source) == 0:
    raise DataError(f"TFDS dataset {name!r} split {split!r} has no examples")
  return EncodedImages([f"{name}[{i}]" for i in range(len(source))],
                       lambda i: source[i][image_key])


def open_source(cfg: ml_collections.ConfigDict) -> EncodedImages:
  """The source a config's `data` block names: `folder`, `tfds_name`, or neither (embedded)."""
  if cfg.get("folder") and cfg.get("tfds_name"):
    raise DataError("set data.folder or data.tfds_name, not both")
  if cfg.get("folder"):
    name, data_dir = folder.prepare(cfg.folder, cfg.get("cache_dir"))
    return tfds_images(name, "train", data_dir)
  if cfg.get("tfds_name"):
    return tfds_images(cfg.tfds_name, cfg.get("split", "train"), cfg.get("data_dir"),
                       cfg.get("image_key", "image"))
  return embedded_samples()
