"""Compile time of full-width HiFiC, with JAX's persistent compilation cache cold and warm.

    python benchmarks/compile_time.py [--only step,decode,generator] [--repeats 1]

Three programs, each compiled only (`jax.jit(...).trace(...).lower().compile()`
on shapes, never run): `step`, the stage-2 training step of
`configs/hific.py:lo` (with its discriminator and LPIPS) at batch 8 of 256x256
crops, built as `benchmarks/train_step.py` builds it; `decode`, the codec's
synthesis of a 768x512 image (`jgc.codec.buckets.synthesis`:
`decode_latents` in its size bucket, as `Codec` compiles it); and `generator`,
G's loss and parameter gradients alone at the step's batch (its share of
`step`). Each program is compiled in a fresh process with an empty cache
folder (`cold`), then in another fresh process reading what the first wrote
(`warm`: the restart of a training job or of `jgc decompress`; see
`jgc/io/compile_cache.py`). To compare a revision, run its own copy of this
script in a worktree of it: `git worktree add /tmp/scan 7e0a115 && cd /tmp/scan &&
python benchmarks/compile_time.py` (7e0a115 scans the residual blocks as one
`lax.scan`; on the CPU it compiled no faster and held 0.5 GB more, so it was not
kept). Seconds are `lower_s` (tracing
and lowering to StableHLO), `compile_s` (XLA, or loading from the cache) and
`compile_cpu_s` (the process's CPU seconds in it: steadier than wall time on a
shared machine), each the least of `--repeats` rounds. Last line: one JSON object,
`{program: {cache: seconds}}`.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

from jgc.codec import buckets
from jgc.io import compile_cache
from jgc.models import build_model, hific, transforms
from jgc.training import defaults, loop

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BATCH, CROP_PX = 8, 256
DECODE_HW = (512, 768)  # a Kodak image; whole 128-px buckets, so the bucket is the image


def step_program() -> tuple[jax.stages.Wrapped, tuple, dict]:
  config = defaults.sibling(os.path.join(ROOT, "configs", "hific.py"), "hific").get_config("lo")
  config.update(batch_size=BATCH, crop_px=CROP_PX)
  trainer = loop.build_trainer(config)
  images = jax.ShapeDtypeStruct((loop.images_per_step(config), CROP_PX, CROP_PX, 3), jnp.uint8)
  state = jax.eval_shape(trainer.init, jax.random.key(0), jax.ShapeDtypeStruct((1, CROP_PX, CROP_PX, 3), jnp.uint8))
  return jax.jit(trainer.step, donate_argnums=0), (state, images), {}


def decode_program() -> tuple[jax.stages.Wrapped, tuple, dict]:
  model = build_model(dict(name="hific"))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), train=False))
  latent = jax.ShapeDtypeStruct((1, DECODE_HW[0] // 16, DECODE_HW[1] // 16, model.latent_channels), jnp.int32)
  mean = jax.ShapeDtypeStruct(latent.shape, jnp.float32)
  synthesis = functools.partial(buckets.synthesis, model, True, image_hw=DECODE_HW)
  return jax.jit(synthesis), (variables, latent, mean), {"extent": jax.ShapeDtypeStruct((2,), jnp.int32)}


def generator_program() -> tuple[jax.stages.Wrapped, tuple, dict]:
  generator = transforms.Generator()
  y = jax.ShapeDtypeStruct((BATCH, CROP_PX // 16, CROP_PX // 16, hific.HiFiC().latent_channels), jnp.float32)
  params = jax.eval_shape(generator.init, jax.random.key(0), y)["params"]
  loss = jax.value_and_grad(lambda p, y: jnp.mean(generator.apply({"params": p}, y) ** 2))
  return jax.jit(loss), (params, y), {}


PROGRAMS = {"step": step_program, "decode": decode_program, "generator": generator_program}


def measure(program: str) -> dict:
  compile_cache.enable()
  jitted, args, kwargs = PROGRAMS[program]()
  t = time.perf_counter()
  lowered = jitted.trace(*args, **kwargs).lower()
  lower_s = time.perf_counter() - t
  t, cpu = time.perf_counter(), time.process_time()
  lowered.compile()
  compile_s, compile_cpu_s = time.perf_counter() - t, time.process_time() - cpu
  return {"lower_s": round(lower_s, 1), "compile_s": round(compile_s, 1), "total_s": round(lower_s + compile_s, 1),
          "compile_cpu_s": round(compile_cpu_s, 1)}


def run_child(program: str, cache: str) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "JGC_COMPILATION_CACHE"}
  env["JAX_COMPILATION_CACHE_DIR"] = cache
  command = [sys.executable, __file__, "--child", program]
  out = subprocess.run(command, capture_output=True, text=True, env=env)
  if out.returncode:
    raise SystemExit(f"{program} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--only", default=",".join(PROGRAMS), help="comma-separated programs")
  parser.add_argument("--repeats", type=int, default=1, help="rounds per measurement; the least time is kept")
  parser.add_argument("--child", choices=list(PROGRAMS), help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return measure(args.child)
  programs = args.only.split(",")
  if unknown := set(programs) - set(PROGRAMS):
    raise SystemExit(f"unknown programs {sorted(unknown)}; use {', '.join(PROGRAMS)}")
  result = {"devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}", "cpus": os.cpu_count()}
  for program in programs:
    rounds = []
    for _ in range(args.repeats):
      with tempfile.TemporaryDirectory() as cache:
        rounds.append({state: run_child(program, cache) for state in ("cold", "warm")})
    result[program] = {state: {k: min(r[state][k] for r in rounds) for k in rounds[0][state]}
                       for state in ("cold", "warm")}
    print(json.dumps({program: result[program]}), flush=True)
  columns = ("lower_s", "compile_s", "total_s", "compile_cpu_s")
  print(f"{'program':<10} {'cache':<6} " + " ".join(f"{c:>13}" for c in columns))
  for program in programs:
    for state, t in result[program].items():
      print(f"{program:<10} {state:<6} " + " ".join(f"{t[c]:>13}" for c in columns))
  return result

if __name__ == "__main__":
  print(json.dumps(main()))
