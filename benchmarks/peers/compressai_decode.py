"""CompressAI's own decoding of a model jgc imports, for `benchmarks/imported_decode.py`.

    /path/to/peer-venv/bin/python benchmarks/peers/compressai_decode.py --arch mbt2018-mean \
        --train_steps 600 --checkpoint /tmp/mbt2018-mean.pth --out /tmp/mbt2018-mean-decoded.npz

Run it in a separate venv (`pip install compressai torch`); jgc never depends on torch. With
`--train_steps`, first trains the zoo's quality-3 architecture (mbt2018-mean: N=128, M=192;
mbt2018: N=192, M=192) briefly from scratch on 128x128 crops of ../shared/data/train/bsds500
(batch 8, lambda 0.0067, Adam 1e-4 and 1e-3 on the quantiles, one thread) and saves its
state_dict to `--checkpoint`; random weights would leave the side information near zero.
Then codes `--image` with `compress` / `decompress` after `update()`, and saves the decoded
uint8 image and the strings' byte count to `--out`. Last line: one JSON object.
"""

import argparse
import glob
import json
import os
import sys
import time
import types

import numpy as np
import torch
from PIL import Image

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data")


def _compressai_zoo():
  try:
    import torchvision  # noqa: F401, PLC0415
  except ImportError:  # CompressAI's registry lists torchvision's transforms at import; the models never use them
    stub = types.ModuleType("torchvision")
    stub.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.update({"torchvision": stub, "torchvision.transforms": stub.transforms})
  from compressai.zoo import mbt2018, mbt2018_mean  # noqa: PLC0415

  return {"mbt2018-mean": mbt2018_mean, "mbt2018": mbt2018}


def train(net, steps: int, seed: int = 0) -> None:
  rng = np.random.default_rng(seed)
  files = sorted(glob.glob(os.path.join(SHARED, "train", "bsds500", "train", "*")))[:200]
  photos = [np.asarray(Image.open(f).convert("RGB")) for f in files]
  main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
  quantiles = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
  opt, aux_opt = torch.optim.Adam(main, 1e-4), torch.optim.Adam(quantiles, 1e-3)
  for _ in range(steps):
    crops = []
    for _ in range(8):
      im = photos[rng.integers(len(photos))]
      i, j = rng.integers(im.shape[0] - 127), rng.integers(im.shape[1] - 127)
      crops.append(im[i : i + 128, j : j + 128])
    x = torch.from_numpy(np.stack(crops).astype(np.float32) / 255).permute(0, 3, 1, 2)
    out = net(x)
    bpp = sum(torch.log(v).sum() for v in out["likelihoods"].values()) / (-np.log(2) * x.numel() / 3)
    loss = 0.0067 * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp
    opt.zero_grad()
    aux_opt.zero_grad()
    loss.backward()
    opt.step()
    net.aux_loss().backward()
    aux_opt.step()


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--arch", choices=("mbt2018-mean", "mbt2018"), default="mbt2018-mean")
  p.add_argument("--checkpoint", required=True)
  p.add_argument("--train_steps", type=int, default=0)
  p.add_argument("--image", default=os.path.join(SHARED, "kodak", "kodim01.png"))
  p.add_argument("--out", required=True)
  args = p.parse_args()
  torch.set_num_threads(1)
  torch.manual_seed(0)
  net = _compressai_zoo()[args.arch](quality=3)
  if args.train_steps:
    train(net, args.train_steps)
    net.update(force=True)
    torch.save(net.state_dict(), args.checkpoint)
  else:
    net.load_state_dict(torch.load(args.checkpoint))
    net.update(force=True)
  net.eval()
  image = np.asarray(Image.open(args.image).convert("RGB"))
  x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
  with torch.no_grad():
    t = time.perf_counter()
    coded = net.compress(x)
    decoded = net.decompress(coded["strings"], coded["shape"])
    seconds = time.perf_counter() - t
  x_hat = np.round(decoded["x_hat"].clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
  num_bytes = sum(len(s[0]) for s in coded["strings"])
  np.savez(args.out, x_hat=x_hat, num_bytes=num_bytes)
  print(json.dumps({"arch": args.arch, "compressai_bytes": num_bytes, "compressai_seconds": round(seconds, 1),
                    "torch": torch.__version__}))


if __name__ == "__main__":
  main()
