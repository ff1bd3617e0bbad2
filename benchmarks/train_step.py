"""Training-step throughput and memory for HiFiC (stage 2: D and G updates).

    python benchmarks/train_step.py [--full_batch 2] [--tiny_batch 8] [--steps 3] [--dtype bfloat16]

Runs the jitted step of `jgc.steps` on random 256x256 uint8 batches on
whatever devices JAX sees (one mesh over all of them), at full width and at
the `tiny` width. `batch` is the config's batch_size; each step reads twice
as many images (one sub-batch for D, one for G), and `images_per_s` counts
all of them. Last line: one JSON object with `images_per_s` (full width) and
`peak_rss_mb`.
"""

import argparse
import json
import os
import resource
import time

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jgc import defaults, train

HIFIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "hific.py")


def measure(arg: str, batch: int, steps: int, dtype: str) -> dict:
  config = defaults.sibling(HIFIC, "hific").get_config(arg)
  config.update(batch_size=batch, crop_px=256, compute_dtype=dtype)
  mesh = train.make_mesh()
  train.check_batch(config, num_devices=mesh.size, num_hosts=1)
  trainer = train.build_trainer(config)
  replicated, batched = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
  n = train.images_per_step(config)
  images = np.random.default_rng(0).integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
  images = jax.device_put(images, batched)
  t = time.perf_counter()
  state = jax.jit(trainer.init, out_shardings=replicated)(jax.random.key(0), images[:1])
  step = jax.jit(trainer.step, out_shardings=(replicated, replicated), donate_argnums=0)
  state, metrics = step(state, images)
  jax.block_until_ready(state)
  first_s = time.perf_counter() - t
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, images)
  jax.block_until_ready(state)
  step_s = (time.perf_counter() - t) / steps
  assert np.isfinite(float(metrics["loss"])), "non-finite loss"
  return {"batch": batch, "images_per_step": n, "init_and_compile_s": round(first_s, 1),
          "step_s": round(step_s, 3), "steps_per_s": round(1 / step_s, 3),
          "images_per_s": round(n / step_s, 2)}


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--full_batch", type=int, default=2)
  parser.add_argument("--tiny_batch", type=int, default=8)
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--dtype", default="float32")
  args = parser.parse_args()
  result = {"devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}", "dtype": args.dtype}
  result["tiny"] = measure("lo,tiny", args.tiny_batch, args.steps * 10, args.dtype)
  print(json.dumps({"tiny": result["tiny"]}), flush=True)
  result["full"] = measure("lo", args.full_batch, args.steps, args.dtype)
  result["images_per_s"] = result["full"]["images_per_s"]
  # ru_maxrss is in KiB on Linux.
  result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
