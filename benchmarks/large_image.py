"""A 24-megapixel photo through full-width HiFiC, end to end, within the memory budget.

    python benchmarks/large_image.py [--height 4000 --width 6000] [--budget_gib GIB]

Random weights (memory and speed do not depend on training). An upscaled Kodak photo
(6000x4000 by default) is compressed, and the file decompressed, each in a fresh process
under the budget (`$JGC_MEMORY_BUDGET_GIB`; by default 80% of the memory available), so that
neither inherits the other's memory: seconds, peak RSS, the tile the analysis and the
synthesis ran in (None: whole), and the file's size. What it checks: a file of any size the
encoder accepts decodes, to that size, with no abort. Last line: one JSON object.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KODIM = os.path.join(HERE, "..", "..", "shared", "data", "kodak", "kodim01.png")


def _codec():
  from codec import random_bundle  # noqa: PLC0415  (benchmarks/codec.py)

  from jgc.codec import bundle  # noqa: PLC0415  (children import JAX after the budget is set)
  from jgc.codec.compressor import Codec  # noqa: PLC0415
  return Codec(bundle.parse(random_bundle({"name": "hific"})))


def _image(height: int, width: int) -> np.ndarray:
  from PIL import Image  # noqa: PLC0415
  if os.path.exists(KODIM):
    photo = Image.open(KODIM).convert("RGB")
  else:
    import skimage.data  # noqa: PLC0415
    photo = Image.fromarray(skimage.data.astronaut())
  return np.asarray(photo.resize((width, height), Image.BICUBIC))


def child(step: str, path: str, height: int, width: int) -> dict:
  codec = _codec()
  start = time.perf_counter()
  if step == "compress":
    image = _image(height, width)
    tile = codec._analysis_within_budget((height, width))[2]
    data = codec.compress(image)
    with open(path, "wb") as f:
      f.write(data)
    out = {"bytes": len(data), "bpp": round(8 * len(data) / (height * width), 4)}
  else:
    with open(path, "rb") as f:
      data = f.read()
    tile = codec._synthesis_within_budget((height, width))[2]
    decoded = codec.decompress(data)
    assert decoded.shape == (height, width, 3), decoded.shape
    out = {"shape": list(decoded.shape)}
  return {**out, "seconds": round(time.perf_counter() - start, 1), "tile": tile,
          "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--height", type=int, default=4000)
  p.add_argument("--width", type=int, default=6000)
  p.add_argument("--budget_gib", type=float, help="$JGC_MEMORY_BUDGET_GIB for both steps")
  p.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    print(json.dumps(child(*args.child, args.height, args.width)))
    return
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.path.dirname(HERE)]))
  if args.budget_gib:
    env["JGC_MEMORY_BUDGET_GIB"] = str(args.budget_gib)
  path = os.path.join(tempfile.mkdtemp(), "large.jgc")
  result = {"height": args.height, "width": args.width, "model": "hific full width, random weights"}
  for step in ("compress", "decompress"):
    out = subprocess.run([sys.executable, __file__, "--child", step, path, "--height", str(args.height),
                          "--width", str(args.width)], env=env, capture_output=True, text=True)
    if out.returncode:
      raise SystemExit(f"{step} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result[step] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{step}: {result[step]}", flush=True)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
