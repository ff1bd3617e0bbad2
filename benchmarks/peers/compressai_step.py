"""CompressAI on this machine, for the side-by-side figures in the README.

    /path/to/peer-venv/bin/python benchmarks/peers/compressai_step.py [--steps 5] [--device cuda]
        [--only mbt2018_mean,bmshj2018] [--batch 8,16] [--no_coding]

Run it in a separate venv (`pip install compressai torch==2.14.1 torchvision==0.29.1`);
jgc never depends on torch. Trains CompressAI's own models with random weights
on random 256x256 crops, batch 8: its RateDistortionLoss (lambda 0.0067, q3),
Adam 1e-4 on the main parameters and 1e-3 on the quantiles, gradients clipped
at 1.0, as its `examples/train.py`. Then codes kodim01 with
`compress`/`decompress` after `update()`. Last line: one JSON object.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from compressai.losses import RateDistortionLoss
from compressai.zoo import bmshj2018_hyperprior, mbt2018, mbt2018_mean
from PIL import Image

KODIM01 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "kodak",
                       "kodim01.png")


def train_step_s(model, steps: int, batch: int = 8, device: str = "cpu") -> float:
  params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
  quantiles = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
  opt, aux_opt = torch.optim.Adam(params, 1e-4), torch.optim.Adam(quantiles, 1e-3)
  loss_fn = RateDistortionLoss(lmbda=0.0067)
  x = torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(0)).to(device)
  times = []
  for _ in range(steps + 2):
    if device != "cpu":
      torch.cuda.synchronize()  # each step timed whole, as jgc's are (block_until_ready)
    t = time.perf_counter()
    opt.zero_grad()
    aux_opt.zero_grad()
    loss = loss_fn(model(x), x)["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    model.aux_loss().backward()
    aux_opt.step()
    if device != "cpu":
      torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
  return float(np.mean(times[2:]))


def coding_s(model, image: torch.Tensor) -> dict:
  model.update(force=True)
  model.eval()
  with torch.no_grad():
    model.compress(image)  # warm up
    t = time.perf_counter()
    out = model.compress(image)
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    model.decompress(out["strings"], out["shape"])
    decode_s = time.perf_counter() - t
  return {"encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3)}


MODELS = {"mbt2018_mean": mbt2018_mean, "bmshj2018": bmshj2018_hyperprior, "mbt2018_ar": mbt2018}


def main() -> dict:
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--device", default="cpu")
  parser.add_argument("--only", default=",".join(MODELS))
  parser.add_argument("--batch", default="8", help="comma-separated batch sizes")
  parser.add_argument("--no_coding", action="store_true", help="skip compress/decompress")
  args = parser.parse_args()
  torch.manual_seed(0)
  image = torch.from_numpy(np.asarray(Image.open(KODIM01).convert("RGB"))).permute(2, 0, 1)[None] / 255.0
  result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
  for name in args.only.split(","):
    model = MODELS[name](quality=3, pretrained=False).to(args.device)
    entry = {}
    for batch in map(int, args.batch.split(",")):
      step_s = train_step_s(model, args.steps, batch, args.device)
      entry[f"batch_{batch}"] = {"step_s": round(step_s, 4), "images_per_s": round(batch / step_s, 1)}
    if not args.no_coding:
      entry.update(coding_s(model.cpu(), image))
    result[name] = entry
    print(json.dumps({name: entry}), flush=True)
  return result


if __name__ == "__main__":
  print(json.dumps(main()))
