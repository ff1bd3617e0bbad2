"""Input-pipeline throughput: 256x256 HiFiC crops per second from ../shared/data/train.

    python benchmarks/input.py [--folder DIR] [--threads N]

The folder is prepared into array_record once (timed separately); then the
pipeline runs as training runs it (decode, random rescale, crop, flip,
batch 8). Last line: one JSON object with `crops_per_s`.
"""

import argparse
import json
import os
import tempfile
import time

import ml_collections

from jgc.data import folder, train_dataset

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "train")


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--folder", default=DEFAULT)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--batches", type=int, default=100)
  args = parser.parse_args()

  cache = tempfile.mkdtemp(prefix="jgc-input-")
  t = time.perf_counter()
  folder.prepare(args.folder, cache)
  prepare_s = time.perf_counter() - t
  cfg = ml_collections.ConfigDict(
      {"folder": args.folder, "cache_dir": cache, "num_threads": args.threads, "prefetch": 64})
  ds, bad = train_dataset(cfg, batch_size=8, crop_px=256, seed=0)
  it = iter(ds)
  for _ in range(5):  # warm up threads and the prefetch buffer
    next(it)
  t = time.perf_counter()
  for _ in range(args.batches):
    next(it)
  elapsed = time.perf_counter() - t
  result = {
      "crops_per_s": round(8 * args.batches / elapsed, 1),
      "threads": args.threads,
      "prepare_s": round(prepare_s, 1),
      "bad_records": bad.count,
  }
  print(f"{result['crops_per_s']} crops/s of 256x256 with {args.threads} threads "
        f"(folder prepared in {result['prepare_s']} s)")
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
