"""Seconds per Kodak image for each evaluation metric (768x512).

    python benchmarks/evaluate.py [--image PATH]

PSNR, MS-SSIM and LPIPS between an image and a JPEG-compressed copy, each
timed after one warm-up call; the Inception features of the decoded image's
FID/256 patches (8 on Kodak); one bisection to a target rate per classical
codec. Last line: one JSON object.
"""

import argparse
import json
import os
import time

from jgc.eval import classical, fid, inception, metrics
from jgc.io import image_files

KODIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "kodak",
                     "kodim23.png")


def _seconds(f, *args, repeat: int = 3) -> float:
  f(*args)
  t = time.perf_counter()
  for _ in range(repeat):
    f(*args)
  return round((time.perf_counter() - t) / repeat, 4)


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--image", default=KODIM)
  args = parser.parse_args()
  image, _ = image_files.read(args.image)
  degraded = classical.decode("jpeg420", classical.encode("jpeg420", image, 30))
  result = {"image": f"{image.shape[1]}x{image.shape[0]}"}
  for name in ("psnr", "ms_ssim", "lpips"):
    result[f"{name}_s"] = _seconds(getattr(metrics, name), image, degraded)
  net = inception.Inception()
  result["fid_patches"] = len(fid.patches(degraded))
  result["inception_s"] = _seconds(lambda: net(fid.patches(degraded)))
  for codec, ok in classical.available().items():
    if ok:
      result[f"{codec}_bisection_s"] = _seconds(classical.at_bpp, codec, image, 0.5, repeat=1)
  result["metrics_s_per_image"] = round(sum(result[f"{m}_s"] for m in ("psnr", "ms_ssim", "lpips", "inception")), 4)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
