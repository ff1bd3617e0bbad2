"""A folder of images (local or gs://), prepared once into a local TFDS array_record dataset.

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
from collections.abc import Iterator

import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from jgc import errors
from jgc.data.errors import DataError
from jgc.io import image_files, paths

DATASET_NAME = "jgc_image_folder"


def list_images(root: str) -> list[str]:
  """Image files under `root` (a local path or gs:// URL), recursively, sorted; raises if there are none."""
  folder = paths.resolve(root)
  if not folder.is_dir():
    raise DataError(f"image folder {root!r} does not exist")
  found = sorted(_image_files(folder))
  if not found:
    raise DataError(f"image folder {root!r} holds no images ({', '.join(image_files.EXTENSIONS)})")
  return found


def _image_files(folder: epath.Path) -> Iterator[str]:
  # Not `epath.Path.walk`: on gs:// it yields folders without their "gs://".
  for path in folder.iterdir():
    if path.is_dir():
      yield from _image_files(path)
    elif path.name.lower().endswith(image_files.EXTENSIONS):
      yield os.fspath(path)


def _storable(path: str) -> bytes | None:
  """The bytes to store for one file, or None (with a warning) if it is unusable."""
  try:
    data = paths.read_bytes(path)
    array, note = image_files.decode(data, path)
  except errors.Error as e:  # not an image, or not readable
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

  def __init__(self, *, files: tuple[str, ...] = (), **kwargs):
    self._files = files
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
    for i, path in enumerate(self._files):
      data = _storable(path)
      if data is None:
        skipped += 1
        continue
      yield i, {"image": data, "path": path}
    if skipped:
      logging.warning("%d of %d files skipped as unreadable", skipped, len(self._files))


def prepare(root: str, cache_dir: str | None = None) -> tuple[str, str]:
  """Prepares `root` (once) and returns `(dataset name, data_dir)` for `tfds.data_source`."""
  files = list_images(root)
  key = hashlib.sha256("\n".join([os.fspath(paths.resolve(root)), *files]).encode()).hexdigest()[:16]
  cache_dir = cache_dir or paths.user_cache("folders")
  data_dir = os.path.join(cache_dir, key)
  tfds.disable_progress_bar()
  builder = JgcImageFolder(files=tuple(files), data_dir=data_dir, file_format="array_record")
  if not builder.is_prepared():
    # Every file is read and decoded once here: minutes for a large folder, and nothing else is printed meanwhile.
    logging.info("preparing %d images of %s into %s (once; later runs read it from there) ...", len(files), root,
                 data_dir)
  try:
    builder.download_and_prepare()
  except AssertionError as e:  # TFDS refuses to write an empty split
    if "No examples" not in str(e):
      raise
    raise DataError(f"image folder {root!r} holds no readable images") from None
  return DATASET_NAME, data_dir


