"""Decoding large images with full-width HiFiC in bounded memory: tiles versus the whole image.

    python benchmarks/tiled_decode.py [--side_px 2048] [--budget_gib GIB]

Random weights (memory and speed do not depend on training). Part one, from
XLA's memory analysis only (nothing decoded): for a 24-megapixel photo
(6000x4000) the memory the whole image's synthesis needs, and the memory with
each tile size of `jgc.codec.tiling.TILES`: the decoded symbols and side information of
the whole image plus one window of the tile and its overlap. Part two, each in
a fresh process for its own peak RSS: a `side_px` square image (an upscaled
Kodak photo) decoded whole, then under `--budget_gib` (by default what the
largest tile smaller than the image needs, so that tiles are used); seconds, peak RSS
and the largest pixel difference between the two. Last
line: one JSON object.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

KODIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "kodak",
                     "kodim01.png")
MEGAPIXELS_24 = (4000, 6000)


def _codec():
  from codec import random_bundle  # noqa: PLC0415  (benchmarks/codec.py)

  from jgc.codec import bundle  # noqa: PLC0415  (children import JAX after the budget is set)
  from jgc.codec.compressor import Codec  # noqa: PLC0415
  return Codec(bundle.parse(random_bundle({"name": "hific"})))


def _image(side: int) -> np.ndarray:
  from PIL import Image  # noqa: PLC0415
  return np.asarray(Image.open(KODIM).convert("RGB").resize((side, side), Image.BICUBIC))


def bounds(codec, hw: tuple[int, int]) -> dict:
  """GiB that decoding an `hw` image takes, whole and with each tile size."""
  from jgc.codec import tiling  # noqa: PLC0415  (children import JAX after the budget is set)

  shape = codec._stream_shapes(*hw)["y"]
  out = {"whole_gib": round(codec._synthesis_and_memory(shape, shape[1:3])[1] / 2**30, 2)}
  for tile in tiling.TILES:
    window = tiling.window(shape[1:3], tile, codec.coding.synthesis_radius)
    needed = codec._synthesis_and_memory(shape, window)[1]
    out[f"tile_{tile}_gib"] = round(needed / 2**30, 2)
  return out


def child(path: str) -> dict:
  """Decodes `path` (made by the parent) and saves the image next to it."""
  codec = _codec()
  with open(path, "rb") as f:
    data = f.read()
  t = time.perf_counter()
  image = codec.decompress(data)
  seconds = time.perf_counter() - t
  np.save(path + ".npy", image)
  return {"decode_s": round(seconds, 1), "peak_rss_gib": _peak_rss_gib()}


def _peak_rss_gib() -> float:
  """This process's peak RSS since its exec (VmHWM): `ru_maxrss` would carry over the
  parent's peak from the fork, which the parent's encode of the large image dominates."""
  with open("/proc/self/status") as f:
    kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
  return round(kib / 2**20, 2)


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--budget_gib", type=float)
  parser.add_argument("--side_px", type=int, default=2048)
  parser.add_argument("--child")
  args = parser.parse_args()
  if args.child:
    return child(args.child)
  from jgc.codec import tiling  # noqa: PLC0415

  codec = _codec()
  result = {"megapixels_24": bounds(codec, MEGAPIXELS_24), "side": bounds(codec, (args.side_px, args.side_px))}
  print(json.dumps(result), flush=True)
  # By default just above what the largest tile smaller than the image needs.
  latent_side = codec._stream_shapes(args.side_px, args.side_px)["y"][1]
  tile = next((t for t in tiling.TILES if t + 2 * codec.coding.synthesis_radius < latent_side), None)
  if tile is None and args.budget_gib is None:
    raise SystemExit(f"--side_px {args.side_px} is smaller than the smallest tile and its overlap; use a larger one")
  budget = args.budget_gib or result["side"][f"tile_{tile}_gib"] + 0.05
  path = os.path.join("/tmp", f"jgc-tiled-{os.getpid()}.jgc")
  with open(path, "wb") as f:
    f.write(codec.compress(_image(args.side_px)))
  runs = {}
  for label, limit in (("whole", None), ("tiled", budget)):
    env = {**os.environ, **({"JGC_MEMORY_BUDGET_GIB": str(limit)} if limit else {})}
    out = subprocess.run([sys.executable, __file__, "--child", path], env=env,
                         capture_output=True, text=True)
    if out.returncode:
      raise SystemExit(f"{label} failed:\n{out.stderr[-3000:]}")
    runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    runs[label]["image"] = np.load(path + ".npy")
    print(json.dumps({label: {k: v for k, v in runs[label].items() if k != "image"}}), flush=True)
  diff = int(np.abs(runs["whole"].pop("image").astype(np.int32) - runs["tiled"].pop("image")).max())
  result.update(side_px=args.side_px, budget_gib=round(budget, 2), **runs, max_abs_difference=diff)
  return result


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  print(json.dumps(main()))
