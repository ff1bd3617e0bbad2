"""The accelerator suite: jgc's training steps next to the PyTorch peers', a real run, and files
coded on the device and decoded on the CPU. About 8 minutes on one GPU.

    python benchmarks/gpu_suite.py [--folder DIR] [--run_s 180] [--only PARTS] [--tiny]

Every part runs in its own process (a failure is reported and the rest go on):
- `peak`: the device's matrix-product rate on random data, float32 and bfloat16.
- `steps`: jgc's step (`benchmarks/train_step.py`) on random 256x256 batches: mbt2018-mean
  q3 at batch 8 and 16, bmshj2018 q3, HiFiC lo (stage 2, 16 images read per step) in
  float32 and bfloat16; images/s, the operations counted from the step's program
  (`benchmarks/flops.py`), and MFU against the peak in the step's dtype.
- `peers`: CompressAI 1.2.8's own step on the same device (`benchmarks/peers/compressai_step.py`),
  when torch and compressai import: mbt2018-mean at batch 8 and 16, bmshj2018 at 8.
- `run`: `python -m jgc.main` on `--folder` (mbt2018-mean q3, batch 16) for `--run_s` seconds
  after its first step (which compiles), ended by SIGTERM (it saves); its steps/s, to set
  against the pure step's.
- `codec`: the run's model exported; kodim01 compressed and decompressed on the device, and
  decompressed on the CPU in another process: the largest pixel difference, and both PSNRs.
`--tiny` runs the same with the configs' tiny variants, small crops and a short run, so that a
CPU can check the script (`tests/test_gpu_suite.py`). Prints a line per part; last line: one
JSON object. Label its figures with the device, the versions and the date.
"""

import argparse
import datetime
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared", "data")
# (train_step.py entry, batch, dtype); `--tiny` uses the entries' tiny variants.
STEPS = [("mbt2018_mean", 8, "float32"), ("mbt2018_mean", 16, "float32"), ("bmshj2018", 8, "float32"),
         ("hific", 8, "float32"), ("hific", 8, "bfloat16")]
RUN_CONFIG = ("configs/mbt2018.py:mean,q3", 16)
TINY_RUN_CONFIG = ("configs/bmshj2018.py:q3,tiny", 2)


def _child(args: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
  """The last JSON line a Python child prints; `{"error": ...}` if it fails."""
  out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
  lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
  if out.returncode or not lines:
    return {"error": f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:] or ['no output']}"}
  return json.loads(lines[-1])


def peak() -> dict:
  return _child(["-c", "import json, sys; sys.path.insert(0, 'benchmarks'); from flops import matmul_tflop_per_s; "
                 "print(json.dumps({d: round(matmul_tflop_per_s(d), 2) for d in ('float32', 'bfloat16')}))"])


def _step_key(entry: str, batch: int, dtype: str) -> str:
  return f"{entry}_b{batch}_{dtype}"


def steps(tiny: bool, peaks: dict, only: set[str]) -> dict:
  out = {}
  for entry, batch, dtype in STEPS:
    if only and _step_key(entry, batch, dtype) not in only:
      continue
    name = f"{entry}_tiny" if tiny else entry
    result = _child([os.path.join(HERE, "train_step.py"), "--child", name, "--steps", "2" if tiny else "5",
                     "--dtype", dtype, "--batch", str(2 if tiny else batch), "--crop_px", "64" if tiny else "256"])
    if "gflop_per_s" in result and peaks.get(dtype):
      result["mfu"] = round(result["gflop_per_s"] / (1e3 * peaks[dtype]), 3)
    out[_step_key(entry, batch, dtype)] = result
  return out


def peers(tiny: bool) -> dict:
  if not (importlib.util.find_spec("torch") and importlib.util.find_spec("compressai")):
    return {"skipped": "torch or compressai does not import"}
  import torch  # noqa: PLC0415

  device = "cuda" if torch.cuda.is_available() else "cpu"
  script = os.path.join(HERE, "peers", "compressai_step.py")
  return {name: _child([script, "--device", device, "--only", name, "--batch", batch, "--no_coding",
                        "--steps", "2" if tiny else "10"])
          for name, batch in (("mbt2018_mean", "8,16"), ("bmshj2018", "8"))}


def run(tiny: bool, folder: str, run_s: float, workdir: str) -> dict:
  """A real `jgc.main` run, ended by SIGTERM `run_s` after its first step (which compiles);
  steps/s from its log lines."""
  config, batch = TINY_RUN_CONFIG if tiny else RUN_CONFIG
  cmd = [sys.executable, "-m", "jgc.main", f"--config={config}", f"--workdir={workdir}",
         f"--config.data.folder={folder}", f"--config.batch_size={batch}", "--config.num_steps=1000000",
         f"--config.log_every_steps={5 if tiny else 100}", "--config.image_every_steps=1000000",
         "--config.checkpoint_every_steps=1000000"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  lines, trained = [], threading.Event()

  def read() -> None:
    for line in proc.stdout:
      lines.append(line)
      if "compilation included" in line:  # summaries.Progress, after the first step
        trained.set()

  reader = threading.Thread(target=read, daemon=True)
  reader.start()
  if trained.wait(timeout=900):
    time.sleep(run_s)
  proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=600)
  reader.join()
  rates = [float(line.split(" steps/s")[0].split()[-1]) for line in lines if " steps/s" in line]
  if not rates:
    return {"error": f"no steps/s in the run's log (exit {proc.returncode}): {[x.strip() for x in lines[-3:]]}"}
  rate = statistics.median(rates)
  return {"config": config, "batch": batch, "seconds_after_compiling": run_s, "steps_per_s": round(rate, 2),
          "images_per_s": round(rate * batch, 1), "exit": proc.returncode, "log_lines": len(rates)}


DECODE = """
import json, sys
import numpy as np
from jgc.codec import bundle
from jgc.codec.compressor import Codec
codec = Codec(bundle.load(sys.argv[1]))
np.save(sys.argv[3], codec.decompress(open(sys.argv[2], "rb").read()))
print(json.dumps({"ok": True}))
"""


def codec(workdir: str, out: str) -> dict:
  """Exports the run's model; codes kodim01 on the default device, decodes it there and on the CPU."""
  import jax  # noqa: PLC0415
  import skimage.data  # noqa: PLC0415
  from PIL import Image  # noqa: PLC0415

  from jgc.codec import bundle  # noqa: PLC0415
  from jgc.codec.compressor import Codec  # noqa: PLC0415
  from jgc.training import export  # noqa: PLC0415

  model = os.path.join(out, "model.jgcm")
  export.export(workdir, model)
  kodim = os.path.join(SHARED, "kodak", "kodim01.png")
  photo = Image.open(kodim) if os.path.exists(kodim) else Image.fromarray(skimage.data.astronaut()).resize((768, 512))
  image = np.asarray(photo.convert("RGB"))
  codec = Codec(bundle.load(model))
  data = codec.compress(image)
  here = codec.decompress(data).astype(np.int32)
  path = os.path.join(out, "kodim01.jgc")
  with open(path, "wb") as f:
    f.write(data)
  cpu = _child(["-c", DECODE, model, path, os.path.join(out, "cpu.npy")], env={**os.environ, "JAX_PLATFORMS": "cpu"})
  if "error" in cpu:
    return cpu
  there = np.load(os.path.join(out, "cpu.npy")).astype(np.int32)

  def psnr(x: np.ndarray) -> float:
    return round(float(10 * np.log10(255.0**2 / np.mean((x - image.astype(np.int32)) ** 2))), 3)

  return {"device": jax.devices()[0].platform, "bpp": round(8 * len(data) / (image.shape[0] * image.shape[1]), 4),
          "max_pixel_difference": int(np.abs(here - there).max()), "psnr_device": psnr(here), "psnr_cpu": psnr(there)}


def main() -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--folder", default=os.path.join(SHARED, "train"), help="photos for the real run")
  p.add_argument("--run_s", type=float, default=180)
  p.add_argument("--only", default="peak,steps,peers,run,codec")
  p.add_argument("--step_entries", default="", help="of `steps`, only these (e.g. bmshj2018_b8_float32)")
  p.add_argument("--tiny", action="store_true", help="tiny configs and crops: a check on a CPU")
  args = p.parse_args()
  import jax  # noqa: PLC0415

  parts = args.only.split(",")
  result = {"date": datetime.date.today().isoformat(), "jax": jax.__version__, "tiny": args.tiny,
            "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}"}
  start = time.monotonic()
  if "peak" in parts:
    result["peak_tflop_per_s"] = peak()
  if "steps" in parts:
    only = set(filter(None, args.step_entries.split(",")))
    result["steps"] = steps(args.tiny, result.get("peak_tflop_per_s", {}), only)
  if "peers" in parts:
    result["peers"] = peers(args.tiny)
  out = tempfile.mkdtemp(prefix="jgc-gpu-suite-")
  workdir = os.path.join(out, "run")
  if "run" in parts:
    result["run"] = run(args.tiny, args.folder, args.run_s, workdir)
  if "codec" in parts:
    result["codec"] = codec(workdir, out) if os.path.isdir(workdir) else {"error": "no run to export"}
  result["seconds"] = round(time.monotonic() - start)
  for key, value in result.items():
    print(f"{key}: {json.dumps(value)}", flush=True)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
