"""The accelerator suite's script runs end to end on a CPU, with tiny models (its figures mean
nothing here; on a GPU host it is the measurement)."""

import json
import os
import subprocess
import sys

import numpy as np
import skimage.data
from codec_helpers import ROOT
from PIL import Image


def test_the_gpu_suite_runs_on_a_cpu_in_its_tiny_mode(tmp_path):
  for i, photo in enumerate((skimage.data.astronaut(), skimage.data.coffee())):
    Image.fromarray(photo).save(tmp_path / f"{i}.png")
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_suite.py"), "--tiny", "--folder",
                        str(tmp_path), "--run_s", "3", "--only", "steps,peers,run,codec",
                        "--step_entries", "bmshj2018_b8_float32"], env=env, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  step = result["steps"]["bmshj2018_b8_float32"]
  assert step["images_per_s"] > 0 and step["gflop_per_step"] >= 0, step
  assert list(result["steps"]) == ["bmshj2018_b8_float32"]
  assert "skipped" in result["peers"] or "mbt2018_mean" in result["peers"]
  assert result["run"]["steps_per_s"] > 0 and result["run"]["exit"] == 0, result["run"]
  codec = result["codec"]
  assert codec["max_pixel_difference"] <= 1 and np.isfinite(codec["psnr_cpu"]), codec
