"""Does an imported CompressAI model decode as CompressAI itself does? Per format version.

    /path/to/peer-venv/bin/python benchmarks/peers/compressai_decode.py --arch mbt2018-mean \
        --train_steps 600 --checkpoint /tmp/m.pth --out /tmp/m.npz
    python benchmarks/imported_decode.py --arch mbt2018-mean --checkpoint /tmp/m.pth --reference /tmp/m.npz

Imports the checkpoint (`jgc import compressai`), codes the same image with the side information
of format version 2 and of version 3 (`jgc.codec.sideinfo`), and compares each decoded image with
CompressAI's own `decompress`: how many values differ, by how much, and the file sizes. Last line:
one JSON object.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np
from PIL import Image

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec.compressor import Codec

KODIM01 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "kodak", "kodim01.png")


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--arch", choices=("mbt2018-mean", "mbt2018"), default="mbt2018-mean")
  p.add_argument("--checkpoint", required=True)
  p.add_argument("--reference", required=True, help="benchmarks/peers/compressai_decode.py's --out")
  p.add_argument("--image", default=KODIM01)
  args = p.parse_args()
  image = np.asarray(Image.open(args.image).convert("RGB"))
  reference = np.load(args.reference)
  want = reference["x_hat"].astype(np.int32)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.jgcm")
    cli.main(["import", "compressai", args.arch, args.checkpoint, "-o", path])
    codec = Codec(bundles.load(path))
  result = {"arch": args.arch, "image": os.path.basename(args.image), "values": int(want.size),
            "compressai_bytes": int(reference["num_bytes"])}
  for version in (2, 3):
    container.VERSION = version  # the encoder writes this version, in its side information's precision
    t = time.perf_counter()
    data = codec.compress(image)
    diff = np.abs(codec.decompress(data).astype(np.int32) - want)
    result[f"v{version}"] = {"max_diff": int(diff.max()), "values_differing": int((diff > 0).sum()),
                             "values_beyond_1": int((diff > 1).sum()), "bytes": len(data),
                             "seconds": round(time.perf_counter() - t, 1)}
  print(json.dumps(result))


if __name__ == "__main__":
  main()
