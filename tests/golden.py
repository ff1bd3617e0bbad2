"""Golden files: a bundle per model family, and per format version a `.jgc` file and what it decodes to.

    python tests/golden.py     # only to add a family or a new format version, never to "fix" a test

For each family of `codec_helpers.CONFIGS` (narrow models, seeded random
weights, with the kernels that produce y and z scaled up so that their symbols
spread over several values) writes tests/data/golden/KIND.jgcm (unless it
exists: bundles never change), the `.jgc` file of `image()` made with it in the
current format version N (KIND.vN.jgc), and KIND.vN.npz: each stream's symbols
and the decoded pixels. test_golden.py checks that today's code still reads
every version's files: symbols exactly, pixels within the +-1 that float32
transforms allow across machines.
"""

import os

import jax
import numpy as np
import skimage.data
from codec_helpers import CONFIGS

from jgc.codec import bundle as bundles
from jgc.codec import container
from jgc.codec.compressor import Codec
from jgc.models import build_model

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden")
# The convolutions whose outputs are y (or w) and z, per family, and the gain put on them.
SPREAD = {"hific": [("encoder", "Conv_5"), ("hyperprior", "analysis", "Conv_2")],
          "scale": [("analysis", "Conv_3"), ("hyper_analysis", "Conv_2")],
          "mean_scale": [("analysis", "Conv_3"), ("hyper_analysis", "Conv_2")],
          "autoregressive": [("analysis", "Conv_3"), ("hyper_analysis", "Conv_2")],
          "gc": [], "vaegan": [("encoder", "Conv_5")]}
GAIN = 6.0


def image() -> np.ndarray:
  """A 47x59 crop of a photo: odd sides, so padding and cropping are pinned too."""
  return skimage.data.astronaut()[100:147, 200:259]


def _params(kind: str) -> dict:
  x = np.zeros((1, 32, 32, 3), np.float32)
  params = jax.tree.map(np.asarray, build_model(CONFIGS[kind]).init(
      {"params": jax.random.key(0), "noise": jax.random.key(1)}, x, train=False)["params"])
  for path in SPREAD[kind]:
    layer = params
    for name in path:
      layer = layer[name]
    layer["kernel"] = layer["kernel"] * GAIN
  return params


def main() -> None:
  os.makedirs(DATA, exist_ok=True)
  for kind in CONFIGS:
    path = os.path.join(DATA, f"{kind}.jgcm")
    if not os.path.exists(path):
      with open(path, "wb") as f:
        f.write(bundles.build(CONFIGS[kind], _params(kind)))
    codec = Codec(bundles.load(path))
    coded = codec.compress(image())
    name = os.path.join(DATA, f"{kind}.v{container.VERSION}")
    with open(f"{name}.jgc", "wb") as f:
      f.write(coded)
    symbols = codec.decode_symbols(coded)
    np.savez_compressed(f"{name}.npz", pixels=codec.decompress(coded),
                        **{f"symbols_{k}": v for k, v in symbols.items()})
    print(kind, {k: (int(v.min()), int(v.max())) for k, v in symbols.items()}, len(coded), "bytes")


if __name__ == "__main__":
  main()
