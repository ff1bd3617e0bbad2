"""Input-pipeline throughput: 256x256 HiFiC crops per second from ../shared/data/train.

    python benchmarks/input.py [--folder DIR] [--threads 1,2,4] [--batches 100]

The folder is prepared into array_record once (timed separately); then the
pipeline runs as training runs it (decode, random rescale, crop, flip,
batch 8), once per thread count (default: this host's cores, as training
uses). Last line: one JSON object with `crops_per_s`, `cores_busy` and
`cpu_ms_per_crop` per thread count.
"""

import argparse
import json
import os
import tempfile
import time

import ml_collections

from jgc.data import folder, train_dataset
from jgc.training import defaults

DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "train")


def measure(data_folder: str, cache: str, threads: int, batches: int) -> dict:
  """256-px crops per second through the training pipeline with `threads` reader threads, and the cores it kept
  busy (process CPU time over wall time: on a machine shared with other jobs, crops/s alone hides whether the
  threads ran in parallel or waited for the CPU)."""
  cfg = ml_collections.ConfigDict(
      {"folder": data_folder, "cache_dir": cache, "num_threads": threads, "prefetch": 64})
  ds, _ = train_dataset(cfg, batch_size=8, crop_px=256, seed=0)
  it = iter(ds)
  for _ in range(5):  # warm up threads and the prefetch buffer
    next(it)
  t, cpu = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(it)
  wall, cpu = time.perf_counter() - t, time.process_time() - cpu
  return {"crops_per_s": round(8 * batches / wall, 1), "cores_busy": round(cpu / wall, 2),
          "cpu_ms_per_crop": round(1000 * cpu / (8 * batches), 2)}


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--folder", default=DEFAULT)
  parser.add_argument("--threads", default=str(defaults.host_cores()), help="comma-separated thread counts")
  parser.add_argument("--batches", type=int, default=100)
  args = parser.parse_args()
  counts = [int(n) for n in args.threads.split(",")]

  runs = {}
  # The prepared copy is as large as the folder; it goes when the benchmark ends.
  with tempfile.TemporaryDirectory(prefix="jgc-input-") as cache:
    t = time.perf_counter()
    folder.prepare(args.folder, cache)
    prepare_s = time.perf_counter() - t
    print(f"folder prepared in {prepare_s:.1f} s")
    for n in counts:
      runs[n] = measure(args.folder, cache, n, args.batches)
      print(f"{runs[n]['crops_per_s']} crops/s of 256x256 with {n} threads ({runs[n]['cores_busy']} cores busy, "
            f"{runs[n]['cpu_ms_per_crop']} CPU ms per crop)")
  return {"threads": runs, "host_cores": defaults.host_cores(), "prepare_s": round(prepare_s, 1)}


if __name__ == "__main__":
  print(json.dumps(main()))
