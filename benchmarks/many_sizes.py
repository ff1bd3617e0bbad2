"""A folder of photos of many sizes against one of a single size: what compiling per size costs,
and what the codec's size buckets (`Codec(bucket_px=...)`, `jgc compress --bucket-px`) save.

    python benchmarks/many_sizes.py [--model MODEL.jgcm] [--bucket_px 16,64,128] [--count 100]

Photos: the first `count` of `../shared/data/train/urban100` (scikit-image's photos, enlarged,
where that folder is missing), each cropped at a random size of 256..640 x 256..640 pixels,
so all sizes differ (`many`), and the same photos cropped to one size of about the same mean
area, 384x512 (`one`). Each set is compressed and decompressed image by image in a fresh
process with no compilation cache, for each bucket (16, the models' stride, compiles per size).
Printed per run: seconds, peak RSS, distinct buckets (compilations of the analysis and the
synthesis), and bpp, which a bucket must not change (checked). Model: `--model`, else tiny HiFiC
with random weights. Last line: one JSON object with the ratio of `many` to `one` seconds per
bucket.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URBAN = os.path.join(ROOT, "..", "shared", "data", "train", "urban100")
ONE_SIZE = (384, 512)


def photos(count: int) -> list[np.ndarray]:
  from PIL import Image  # noqa: PLC0415

  if os.path.isdir(URBAN):
    names = sorted(os.listdir(URBAN))[:count]
    return [np.asarray(Image.open(os.path.join(URBAN, n)).convert("RGB")) for n in names]
  import skimage.data  # noqa: PLC0415

  base = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
  return [np.asarray(Image.fromarray(base[i % len(base)]).resize((640, 640))) for i in range(count)]


def crops(kind: str, count: int) -> list[np.ndarray]:
  rng = np.random.default_rng(0)
  out, seen = [], set()
  for photo in photos(count):
    if kind == "one":
      h, w = ONE_SIZE
    else:
      while True:  # a size no earlier crop has
        h, w = (int(rng.integers(256, min(640, s) + 1)) for s in photo.shape[:2])
        if (h, w) not in seen:
          break
      seen.add((h, w))
    photo = np.pad(photo, ((0, max(h - photo.shape[0], 0)), (0, max(w - photo.shape[1], 0)), (0, 0)), mode="edge")
    out.append(photo[:h, :w])
  return out


def child(kind: str, count: int, bucket_px: int, model: str) -> dict:
  from jgc.codec import bundle  # noqa: PLC0415
  from jgc.codec.compressor import Codec  # noqa: PLC0415

  images = crops(kind, count)
  codec = Codec(bundle.load(model), bucket_px)
  size, start = 0, time.perf_counter()
  for image in images:
    data = codec.compress(image)
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape
    size += len(data)
  return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss // 1024, "compiles": len({codec.bucket(*i.shape[:2]) for i in images}),
      "bytes": size, "pixels": sum(i.shape[0] * i.shape[1] for i in images)}


def tiny_hific(path: str) -> None:
  import jax  # noqa: PLC0415

  sys.path.insert(0, ROOT)
  from configs import hific  # noqa: PLC0415
  from jgc.codec import bundle  # noqa: PLC0415
  from jgc.models import build_model  # noqa: PLC0415

  cfg = hific.get_config("tiny").model.to_dict()
  x = jax.numpy.zeros((1, 64, 64, 3))
  params = build_model(cfg).init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x, train=False)
  with open(path, "wb") as f:
    f.write(bundle.build(cfg, params["params"]))


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--model", help="a trained bundle (default: tiny HiFiC with random weights)")
  p.add_argument("--bucket_px", default="16,64,128")
  p.add_argument("--count", type=int, default=100)
  p.add_argument("--child", nargs=2, metavar=("SET", "BUCKET"), help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    print(json.dumps(child(args.child[0], args.count, int(args.child[1]), args.model)))
    return
  model = args.model or os.path.join(tempfile.mkdtemp(), "tiny-hific.jgcm")
  if not args.model:
    tiny_hific(model)
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  runs = {}
  for bucket in map(int, args.bucket_px.split(",")):
    for kind in ("one", "many"):
      out = subprocess.run([sys.executable, __file__, "--child", kind, str(bucket), "--model", model,
                            "--count", str(args.count)], env=env, capture_output=True, text=True, check=True)
      runs[f"{kind}_{bucket}"] = run = json.loads(out.stdout.strip().splitlines()[-1])
      print(f"{kind:>4} bucket {bucket:>3}: {run['seconds']:7.2f} s, {run['compiles']:3d} compiles, "
            f"peak RSS {run['peak_rss_mb']} MB, {8 * run['bytes'] / run['pixels']:.4f} bpp", flush=True)
  for kind in ("one", "many"):
    sizes = {runs[f"{kind}_{b}"]["bytes"] for b in args.bucket_px.split(",")}
    assert len(sizes) == 1, f"the buckets changed the files of set {kind}: {sizes}"
  ratios = {b: round(runs[f"many_{b}"]["seconds"] / runs[f"one_{b}"]["seconds"], 2)
            for b in args.bucket_px.split(",")}
  print(json.dumps({"model": args.model or "tiny hific, random weights", "count": args.count,
                    "many_over_one_seconds": ratios, "runs": runs}))


if __name__ == "__main__":
  main()
