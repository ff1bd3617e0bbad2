"""Quality per CPU budget: train mbt2018-mean q3 for a wall-clock budget, then code Kodak with real files.

    python benchmarks/budget.py [--minutes 30] [--workdir /tmp/jgc-budget]

The recipe of the CompressAI comparison in the README: batch 8 of 256-px
crops from `../shared/data/train`, Adam 1e-4, quantiles 1e-3, gradients
clipped at 1.0. The budget counts from the start of the training process
(start-up, data preparation and compilation included); at its end the run
gets SIGTERM, saves the step it has finished and exits, as on a preemption.
Then `jgc export`, `jgc compress` and `jgc decompress` over the 24 Kodak
images. Last line: one JSON object with the step count, the mean bpp of the
files and the mean PSNR (uint8 RGB, per image, then averaged).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from jgc.io import image_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def train(workdir: str, minutes: float) -> float:
  """Trains until the budget is spent; returns the seconds it took."""
  cmd = [sys.executable, "-m", "jgc.main", "--config=configs/mbt2018.py:mean,q3", f"--workdir={workdir}",
         f"--config.data.folder={os.path.join(SHARED, 'train')}", "--config.batch_size=8",
         "--config.crop_px=256", "--config.optim.lr=1e-4", "--config.optim.quantiles_lr=1e-3",
         "--config.optim.clip_norm=1.0", "--config.log_every_steps=50",
         "--config.checkpoint_every_steps=1000000", "--config.image_every_steps=1000000"]
  start = time.monotonic()
  proc = subprocess.Popen(cmd, cwd=ROOT)
  try:
    proc.wait(timeout=minutes * 60)
  except subprocess.TimeoutExpired:
    proc.send_signal(signal.SIGTERM)
    proc.wait()
  if proc.returncode:
    raise SystemExit(f"training failed with status {proc.returncode}")
  return time.monotonic() - start


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--minutes", type=float, default=30)
  parser.add_argument("--workdir", default="/tmp/jgc-budget")
  args = parser.parse_args()
  if os.path.exists(os.path.join(args.workdir, "checkpoints")):
    raise SystemExit(f"{args.workdir} already holds a run; the budget needs a fresh workdir")
  seconds = train(args.workdir, args.minutes)
  steps = max(int(d) for d in os.listdir(os.path.join(args.workdir, "checkpoints")) if d.isdigit())
  model = os.path.join(args.workdir, "model.jgcm")
  kodak = os.path.join(SHARED, "kodak")
  files, decoded = os.path.join(args.workdir, "kodak-jgc"), os.path.join(args.workdir, "kodak-decoded")
  for command in (["export", args.workdir, "-o", model], ["compress", kodak, "-m", model, "-o", files, "--force"],
                  ["decompress", files, "-m", model, "-o", decoded, "--force"]):
    subprocess.run([sys.executable, "-m", "jgc", *command], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
  bpp, psnr = [], []
  for name in sorted(n for n in os.listdir(kodak) if n.endswith(".png")):
    original = image_files.read(os.path.join(kodak, name))[0].astype(np.float64)
    restored = image_files.read(os.path.join(decoded, name))[0].astype(np.float64)
    bpp.append(os.path.getsize(os.path.join(files, name + ".jgc")) * 8 / (original.shape[0] * original.shape[1]))
    psnr.append(10 * np.log10(255.0**2 / np.mean((original - restored) ** 2)))
  return {"config": "configs/mbt2018.py:mean,q3", "budget_min": args.minutes, "train_s": round(seconds),
          "steps": steps, "images": len(bpp), "bpp": round(float(np.mean(bpp)), 4),
          "psnr_db": round(float(np.mean(psnr)), 2)}


if __name__ == "__main__":
  print(json.dumps(main()))
