"""Per-host batches of uint8 NHWC training crops.

The pipeline is a grain `MapDataset`: the source is sliced by
`jax.process_index()` / `jax.process_count()` (disjoint, complete shards),
shuffled per epoch from the seed, cropped with a per-element generator
derived from the seed and the element's position, and read by threads with
prefetching. Its iterator's `get_state()` / `set_state()` make resuming exact;
training saves that state with each checkpoint.

Bad records (corrupt, truncated, unreadable) are skipped with one warning
each and counted in `BadRecords`; a run never dies on one file.
"""

import logging
import threading

import grain
import jax
import ml_collections
import numpy as np

from jgc.data.errors import DataError
from jgc.data.preprocess import random_crop
from jgc.data.sources import EncodedImages, open_source
from jgc.io import image_files


class BadRecords:
  """Counts records skipped as unreadable; warns once per record."""

  def __init__(self):
    self._lock = threading.Lock()
    self._seen: set[str] = set()

  @property
  def count(self) -> int:
    return len(self._seen)

  def skip(self, name: str, error: Exception) -> None:
    with self._lock:
      if name not in self._seen:
        self._seen.add(name)
        logging.warning("skipping %s (%d skipped so far)", error, len(self._seen))


def _decoded(record: tuple[str, bytes], bad: BadRecords) -> np.ndarray | None:
  name, data = record
  try:
    image, _ = image_files.decode(data, name)
  except image_files.BadImage as e:
    bad.skip(name, e)
    return None
  return image


def train_dataset(
    cfg: ml_collections.ConfigDict,
    *,
    batch_size: int,
    crop_px: int,
    seed: int,
    process_index: int | None = None,
    process_count: int | None = None,
    source: EncodedImages | None = None,
) -> tuple[grain.IterDataset, BadRecords]:
  """Infinite per-host batches `(batch_size, crop_px, crop_px, 3)` uint8.

  Args:
    cfg: the config's `data` block (`folder`, `tfds_name`, `data_dir`,
      `split`, `image_key`, `num_threads`, `prefetch`).
    batch_size: images per batch on this host.
    crop_px: side of the square crops.
    seed: fixes the order and the crops.
    process_index, process_count: this host's shard; default from JAX.
    source: an already opened source (tests); default from `cfg`.
  """
  source = source if source is not None else open_source(cfg)
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if len(source) < count:
    raise DataError(f"{len(source)} images cannot be sharded over {count} hosts")
  bad = BadRecords()

  def crop(record, rng):
    image = _decoded(record, bad)
    return None if image is None else random_crop(image, crop_px, rng)

  ds = grain.MapDataset.source(source)[index::count]
  ds = ds.seed(seed).shuffle().repeat().random_map(crop).filter(lambda x: x is not None)
  options = grain.ReadOptions(num_threads=cfg.get("num_threads", 2), prefetch_buffer_size=cfg.get("prefetch", 64))
  ds = ds.to_iter_dataset(options).batch(batch_size, drop_remainder=True)
  return ds, bad
