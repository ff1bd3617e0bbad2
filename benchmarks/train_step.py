"""Training-step time and peak memory for every config family.

    python benchmarks/train_step.py [--only mbt2018_mean,hific] [--steps 3] [--dtype bfloat16]

Each entry runs in its own process (so its peak RSS is its own) on random
256x256 uint8 batches, with the jitted step of `jgc.training.step` on whatever devices
JAX sees. `batch` is the config's batch_size; with a discriminator a step reads
twice as many images (one sub-batch for D, one for G, as HiFiC's official
code), and `images_per_s` counts every image read: the PyTorch HiFiC port's
cycle (one D and one G iteration at batch 8) reads 16, so its images/s is
16 / cycle time. Last line: one JSON object, an entry per config with
`step_s`, `images_per_s`, `init_and_compile_s`, `peak_rss_mb`, and the step's
operations counted from its program (`gflop_per_step`, `gflop_per_s`;
`benchmarks/flops.py`: XLA's own count leaves out cuDNN's convolutions on a
GPU), next to `matmul_gflop_per_s`, this machine's rate on a large product of
random matrices in the step's dtype, and their ratio, `mfu`.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import jax
import numpy as np
from flops import matmul_tflop_per_s, step_flops
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jgc.training import defaults, loop

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
# name: (config file, option string, batch). Batch 8 everywhere: CompressAI's and
# the PyTorch HiFiC port's batch in the comparisons of the README.
ENTRIES = {
    "mbt2018_mean": ("mbt2018", "mean,q3", 8),
    "mbt2018_ar": ("mbt2018", "ar,q3", 8),
    "bmshj2018": ("bmshj2018", "q3", 8),
    "hific": ("hific", "lo", 8),
    "hific_tiny": ("hific", "lo,tiny", 8),
    "mbt2018_mean_tiny": ("mbt2018", "mean,q3,tiny", 8),
    "bmshj2018_tiny": ("bmshj2018", "q3,tiny", 8),
    "gc": ("gc", "c8", 8),
    "vaegan": ("vaegan", "", 8),
}


def measure(name: str, steps: int, dtype: str, batch: int | None = None, crop_px: int = 256) -> dict:
  file, arg, default_batch = ENTRIES[name]
  batch = batch or default_batch
  config = defaults.sibling(os.path.join(CONFIGS, f"{file}.py"), file).get_config(arg)
  config.update(batch_size=batch, crop_px=crop_px, compute_dtype=dtype)
  mesh = loop.make_mesh()
  loop.check_batch(config, num_devices=mesh.size, num_hosts=1)
  trainer = loop.build_trainer(config)
  replicated, batched = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
  n = loop.images_per_step(config)
  images = np.random.default_rng(0).integers(0, 256, (n, crop_px, crop_px, 3), dtype=np.uint8)
  images = jax.device_put(images, batched)
  t = time.perf_counter()
  state = jax.jit(trainer.init, out_shardings=replicated)(jax.random.key(0), images[:1])
  step = jax.jit(trainer.step, out_shardings=(replicated, replicated), donate_argnums=0)
  gflop = step_flops(step.trace(state, images).jaxpr) / 1e9
  state, metrics = step(state, images)
  jax.block_until_ready(state)
  first_s = time.perf_counter() - t
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, images)
  jax.block_until_ready(state)
  step_s = (time.perf_counter() - t) / steps
  assert np.isfinite(float(metrics["loss"])), "non-finite loss"
  return {"config": f"configs/{file}.py:{arg}", "dtype": dtype, "batch": batch, "images_per_step": n,
          "init_and_compile_s": round(first_s, 1), "step_s": round(step_s, 3),
          "images_per_s": round(n / step_s, 2),
          # XLA's count of the compiled step's floating-point operations, and the rate reached.
          "gflop_per_step": round(gflop, 1), "gflop_per_s": round(gflop / step_s, 1),
          # ru_maxrss is in KiB on Linux.
          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--only", default=",".join(ENTRIES), help="comma-separated entries")
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--batch", type=int, help="instead of the entry's batch (8)")
  parser.add_argument("--crop_px", type=int, default=256)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return measure(args.child, args.steps, args.dtype, args.batch, args.crop_px)
  peak = matmul_tflop_per_s(args.dtype, n=4096, repeats=5) * 1e3
  result = {"devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}", "dtype": args.dtype,
            "matmul_gflop_per_s": round(peak, 1)}
  print(json.dumps({"matmul_gflop_per_s": result["matmul_gflop_per_s"]}), flush=True)
  for name in args.only.split(","):
    if name not in ENTRIES:
      raise SystemExit(f"unknown entry {name!r}; use {', '.join(ENTRIES)}")
    out = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(args.steps), "--dtype", args.dtype,
                          "--crop_px", str(args.crop_px), *(["--batch", str(args.batch)] if args.batch else [])],
                         capture_output=True, text=True)
    if out.returncode:
      raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    result[name] = json.loads(out.stdout.strip().splitlines()[-1])
    result[name]["mfu"] = round(result[name]["gflop_per_s"] / peak, 3)
    print(json.dumps({name: result[name]}), flush=True)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
