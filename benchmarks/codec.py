"""Compress and decompress one 768x512 Kodak image, phase by phase, and the
whole `jgc compress` / `jgc decompress` processes, cold and warm.

    python benchmarks/codec.py [--image PATH] [--skip_hific] [--skip_autoregressive]

Models have random weights (speed does not depend on training): HiFiC at full
width, the mean-scale hyperprior (Minnen 2018, N=128, M=192: CompressAI's
mbt2018-mean at q1-4, as `benchmarks/peers/compressai_step.py` codes it) and
the joint autoregressive one (N=M=192, q1-4). Each is run once to compile,
then timed. `cli` runs the mean-scale model's `jgc compress` and `jgc
decompress` as fresh processes, first with an empty compilation cache
(`cold`), then again (`warm`): whole-process seconds and peak RSS. Phases
(`jgc.codec.phases`, recorded while the codec runs): analysis and
hyper_analysis (the jitted encoder), side_info (the exact fixed-point
hyper-synthesis and scale indices; for the autoregressive model, the
per-position context), range_coding, synthesis (the jitted decoder); io:
writing and reading the file. Last line: one JSON object with `encode_s` and
`decode_s` per model.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

from jgc.codec import bundle, phases
from jgc.codec.compressor import Codec
from jgc.io import image_files
from jgc.models import build_model

KODIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "kodak",
                     "kodim01.png")
MODELS = {
    "hific": dict(name="hific"),
    "mean_scale": dict(name="hyperprior", prior="mean_scale", channels=128, latent_channels=192),
    "autoregressive": dict(name="hyperprior", prior="autoregressive", channels=192, latent_channels=192),
}


def random_bundle(cfg: dict) -> bytes:
  """A bundle of `cfg`'s model with random weights."""
  x = jnp.zeros((1, 64, 64, 3))
  params = jax.jit(lambda k: build_model(cfg).init({"params": k, "noise": k}, x, train=False))(jax.random.key(0))
  return bundle.build(cfg, params["params"])


def measure(cfg: dict, image) -> dict:
  codec = Codec(bundle.parse(random_bundle(cfg)))
  codec.decompress(codec.compress(image))  # compile
  t = time.perf_counter()
  with phases.recording() as encode_phases:
    data = codec.compress(image)
  encode_s = time.perf_counter() - t
  path = os.path.join(tempfile.mkdtemp(), "image.jgc")
  t = time.perf_counter()
  with open(path, "wb") as f:
    f.write(data)
  with open(path, "rb") as f:
    data = f.read()
  io_s = time.perf_counter() - t
  t = time.perf_counter()
  with phases.recording() as decode_phases:
    decoded = codec.decompress(data)
  decode_s = time.perf_counter() - t
  assert decoded.shape == image.shape
  return {"encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3), "io_s": round(io_s, 4),
          "bytes": len(data), "encode_phases": _rounded(encode_phases), "decode_phases": _rounded(decode_phases)}


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
  return {k: round(v, 4) for k, v in seconds.items()}


# One CLI command in a fresh process; prints its own peak RSS (KiB on Linux) last.
_CLI = "import resource, sys; from jgc.cli import main; rc = main(sys.argv[1:]); " \
       "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"


def whole_process(cfg: dict, image_path: str) -> dict:
  work = tempfile.mkdtemp()
  model, coded, decoded = (os.path.join(work, n) for n in ("model.jgcm", "image.jgc", "image.png"))
  with open(model, "wb") as f:
    f.write(random_bundle(cfg))
  env = dict(os.environ, JGC_COMPILATION_CACHE=os.path.join(work, "cache"))
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  result = {}
  for run in ("cold", "warm"):
    for command, src, out in (("compress", image_path, coded), ("decompress", coded, decoded)):
      t = time.perf_counter()
      done = subprocess.run([sys.executable, "-c", _CLI, command, src, "-m", model, "-o", out, "--force"],
                            env=env, capture_output=True, text=True, check=True)
      result[f"{command}_{run}"] = {"s": round(time.perf_counter() - t, 2),
                                    "peak_rss_mb": round(int(done.stdout.split()[-1]) / 1024)}
  return result


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--image", default=KODIM)
  parser.add_argument("--skip_hific", action="store_true")
  parser.add_argument("--skip_autoregressive", action="store_true")
  args = parser.parse_args()
  image, _ = image_files.read(args.image)
  result = {"image": f"{image.shape[1]}x{image.shape[0]}", "device": jax.devices()[0].device_kind}
  # First: Linux keeps a process's peak RSS across fork and exec, so the children
  # must start from a parent that has not run the large models yet.
  result["cli"] = whole_process(MODELS["mean_scale"], args.image)
  print(json.dumps({"cli": result["cli"]}), flush=True)
  for name, cfg in MODELS.items():
    if (name == "hific" and args.skip_hific) or (name == "autoregressive" and args.skip_autoregressive):
      continue
    result[name] = measure(cfg, image)
    print(json.dumps({name: result[name]}), flush=True)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
