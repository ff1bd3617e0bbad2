"""Checkpoints and outputs of CompressAI's own models, which the importer is checked against.

    pip install -e ".[compressai-torch]" && python tests/compressai_reference.py

For each importable architecture, builds CompressAI's model at narrow widths
(N=8, M=12) with its own initialization plus seeded noise on every parameter
(so that no parameter keeps a special initial value), saves its state_dict with
`torch.save` as tests/data/compressai/ARCH.pth (and bmshj2018-hyperprior also
in torch's legacy, non-zip format), and records in ARCH.npz the latents, the
likelihoods and the reconstruction (eval mode) of `parity_image()`, and the
byte lengths of CompressAI's own `compress()` strings for `image()`. test_import.py compares
jgc's imported models against them without torch.
"""

import os

import numpy as np
import skimage.data

DATA = os.path.join(os.path.dirname(__file__), "data", "compressai")
ARCHS = ("bmshj2018-hyperprior", "mbt2018-mean", "mbt2018")
N, M = 8, 12


def image() -> np.ndarray:
  """A 256x384 uint8 crop of a photo: sizes multiples of 64, as CompressAI's models need."""
  return skimage.data.astronaut()[:256, 64:448]


def parity_image() -> np.ndarray:
  """The 64x128 corner of `image()` on which latents, likelihoods and reconstructions are compared."""
  return image()[:64, :128]


# Derived tables that CompressAI's `update()` adds; rebuilt by any importer, and
# large, so the committed checkpoints leave them out.
TABLES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def record(arch: str) -> dict:
  import torch  # noqa: PLC0415  (only the compressai-torch extra has torch)
  from compressai.zoo.image import model_architectures  # noqa: PLC0415

  torch.manual_seed(ARCHS.index(arch))
  net = model_architectures[arch](N, M)
  net.eval()
  as_tensor = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).permute(2, 0, 1)[None]  # noqa: E731
  x, x_small = as_tensor(image()), as_tensor(parity_image())
  with torch.no_grad():
    for p in net.parameters():
      p.add_(0.02 * torch.randn_like(p))
    # Random weights give latents far below one quantization step; these spread them
    # over several symbols, so that rounding and coding are exercised.
    last_conv = lambda seq: [m for m in seq if isinstance(m, torch.nn.Conv2d)][-1]  # noqa: E731
    y = net.g_a(x)
    last_conv(net.g_a).weight.mul_(4.0 / y.std())
    last_conv(net.g_a).bias.mul_(4.0 / y.std())
    y = net.g_a(x)
    z = net.h_a(torch.abs(y) if arch == "bmshj2018-hyperprior" else y)
    last_conv(net.h_a).weight.mul_(3.0 / z.std())
    last_conv(net.h_a).bias.mul_(3.0 / z.std())
    # ...and scales of the same order, so that few symbols fall outside the coder's tables.
    params = net.entropy_parameters if arch == "mbt2018" else net.h_s
    last_conv(params).bias[:M].add_(3.0)
  net.update(force=True)
  state = {k: v for k, v in net.state_dict().items() if k.rsplit(".", 1)[-1] not in TABLES}
  torch.save(state, os.path.join(DATA, f"{arch}.pth"))
  if arch == ARCHS[0]:
    torch.save(state, os.path.join(DATA, f"{arch}-legacy.pth"), _use_new_zipfile_serialization=False)
  with torch.no_grad():
    y = net.g_a(x_small)
    z = net.h_a(torch.abs(y) if arch == "bmshj2018-hyperprior" else y)
    out = net(x_small)
    strings = net.compress(x)["strings"]
  nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
  return {"y": nhwc(y), "z": nhwc(z), "x_hat": nhwc(out["x_hat"]),
          "y_likelihoods": nhwc(out["likelihoods"]["y"]), "z_likelihoods": nhwc(out["likelihoods"]["z"]),
          "y_bytes": np.array(sum(len(s) for s in strings[0])), "z_bytes": np.array(sum(len(s) for s in strings[1]))}


def main() -> None:
  os.makedirs(DATA, exist_ok=True)
  for arch in ARCHS:
    np.savez_compressed(os.path.join(DATA, f"{arch}.npz"), **record(arch))


if __name__ == "__main__":
  main()
