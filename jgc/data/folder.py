"""A local folder of images, prepared once into a TFDS array_record dataset.

The folder is scanned recursively for PNG, JPEG, WebP and other Pillow
formats. Every file is decoded once here: readable 8-bit RGB JPEG and PNG
files are stored as they are, other modes (grayscale, RGBA, CMYK, 16-bit,
palette) are converted to 8-bit RGB PNG, and unreadable files are skipped
with one warning each and a count. The prepared dataset lives under a cache
directory keyed by the folder's path and file list, so a changed folder is
prepared again.
"""

import hashlib
import io
import logging
import os

import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from jgc import image_files
from jgc.data.errors import DataError

DATASET_NAME = "jgc_image_folder"


def list_images(root: str) -> list[str]:
  """Image files under `root`, recursively, sorted; raises if there are none."""
  if not os.path.isdir(root):
    raise DataError(f"image folder {root!r} does not exist")
  paths = sorted(
      os.path.join(d, f) for d, _, files in os.walk(root) for f in files
      if f.lower().endswith(image_files.EXTENSIONS))
  if not paths:
    raise DataError(f"image folder {root!r} holds no images ({', '.join(image_files.EXTENSIONS)})")
  return paths


def _storable(path: str) -> bytes | None:
  """The bytes to store for one file, or None (with a warning) if it is unusable."""
  try:
    with open(path, "rb") as f:
      data = f.read()
    array, note = image_files.decode(data, path)
  except image_files.BadImage as e:
    logging.warning("skipping %s", e)
    return None
  if note:
    logging.warning("%s: %s", path, note)
  with Image.open(io.BytesIO(data)) as img:
    if img.format in ("JPEG", "PNG") and img.mode == "RGB":
      return data
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format="PNG")
  return buf.getvalue()


class JgcImageFolder(tfds.core.GeneratorBasedBuilder):
  """TFDS builder (registered as "jgc_image_folder") over an explicit file list."""

  VERSION = tfds.core.Version("1.0.0")
  # TFDS looks its builders' code up through importlib.resources, which fails
  # for editable installs; this builder needs no files beside its code.
  code_path = epath.Path(__file__)

  def __init__(self, *, paths: tuple[str, ...] = (), **kwargs):
    self._paths = paths
    super().__init__(**kwargs)

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
            "path": tfds.features.Text(),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    skipped = 0
    for i, path in enumerate(self._paths):
      data = _storable(path)
      if data is None:
        skipped += 1
        continue
      yield i, {"image": data, "path": path}
    if skipped:
      logging.warning("%d of %d files skipped as unreadable", skipped, len(self._paths))


def prepare(root: str, cache_dir: str | None = None) -> tuple[str, str]:
  """Prepares `root` (once) and returns `(dataset name, data_dir)` for `tfds.data_source`."""
  paths = list_images(os.path.abspath(root))
  key = hashlib.sha256("\n".join([os.path.abspath(root), *paths]).encode()).hexdigest()[:16]
  cache_dir = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "jgc", "folders")
  data_dir = os.path.join(cache_dir, key)
  tfds.disable_progress_bar()
  builder = JgcImageFolder(paths=tuple(paths), data_dir=data_dir, file_format="array_record")
  try:
    builder.download_and_prepare()
  except AssertionError as e:  # TFDS refuses to write an empty split
    if "No examples" not in str(e):
      raise
    raise DataError(f"image folder {root!r} holds no readable images") from None
  return DATASET_NAME, data_dir


