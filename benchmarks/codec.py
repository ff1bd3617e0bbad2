"""Compress and decompress one 768x512 Kodak image, stage by stage.

    python benchmarks/codec.py [--image PATH] [--skip_hific] [--skip_autoregressive]

Models have random weights (speed does not depend on training): HiFiC at full
width, the mean-scale hyperprior (Minnen 2018, N=192, M=320: CompressAI's
mbt2018-mean at q5-8) and the joint autoregressive one (N=M=192, q1-4).
Each is run once to compile, then timed. Stages: transforms (the jitted
encoder / decoder), side_info (the exact fixed-point hyper-synthesis and
scale indices; for the autoregressive model, the per-position context),
coding (range coder), io (writing and reading the file). Last line: one
JSON object with `encode_s` and `decode_s` per model.
"""

import argparse
import json
import os
import tempfile
import time

import jax
import jax.numpy as jnp

from jgc import image_files
from jgc.codec import bundle
from jgc.codec.compressor import Codec
from jgc.models import build_model

KODIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "kodak",
                     "kodim23.png")
MODELS = {
    "hific": dict(name="hific"),
    "mean_scale": dict(name="hyperprior", prior="mean_scale", channels=192, latent_channels=320),
    "autoregressive": dict(name="hyperprior", prior="autoregressive", channels=192, latent_channels=192),
}


def measure(cfg: dict, image) -> dict:
  x = jnp.zeros((1, 64, 64, 3))
  params = jax.jit(lambda k: build_model(cfg).init({"params": k, "noise": k}, x, train=False))(jax.random.key(0))
  codec = Codec(bundle.parse(bundle.build(cfg, params["params"])))
  codec.decompress(codec.compress(image)[0])  # compile
  t = time.perf_counter()
  data, enc = codec.compress(image)
  encode_s = time.perf_counter() - t
  path = os.path.join(tempfile.mkdtemp(), "image.jgc")
  t = time.perf_counter()
  with open(path, "wb") as f:
    f.write(data)
  with open(path, "rb") as f:
    data = f.read()
  io_s = time.perf_counter() - t
  t = time.perf_counter()
  decoded, dec = codec.decompress(data)
  decode_s = time.perf_counter() - t
  assert decoded.shape == image.shape
  return {"encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3), "io_s": round(io_s, 4),
          "bytes": len(data), "encode_stages": enc.as_dict(), "decode_stages": dec.as_dict()}


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--image", default=KODIM)
  parser.add_argument("--skip_hific", action="store_true")
  parser.add_argument("--skip_autoregressive", action="store_true")
  args = parser.parse_args()
  image, _ = image_files.read(args.image)
  result = {"image": f"{image.shape[1]}x{image.shape[0]}", "device": jax.devices()[0].device_kind}
  for name, cfg in MODELS.items():
    if (name == "hific" and args.skip_hific) or (name == "autoregressive" and args.skip_autoregressive):
      continue
    result[name] = measure(cfg, image)
    print(json.dumps({name: result[name]}), flush=True)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
