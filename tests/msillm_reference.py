"""A checkpoint and outputs of NeuralCompression's own HiFiCAutoencoder (MS-ILLM's), which `jgc import msillm`
is checked against.

    git clone https://github.com/facebookresearch/NeuralCompression /tmp/nc
    git -C /tmp/nc checkout 3f122808255a2278eea049119367eb3abc434862
    pip install torch compressai==1.2.4 scikit-image && python tests/msillm_reference.py /tmp/nc

(Run here as `/work/torchvenv/bin/python tests/msillm_reference.py /work/nc-src`, CPU torch 2.13,
CompressAI 1.2.4, the version NC pins in its `setup.cfg`.) Only NC's model code is used: its
package's `__init__` files, which import NC's training and metric dependencies, are replaced in a
copy by ones that import the three modules the model needs. E's and G's widths are constants in
NC's code (`neuralcompression/models/_hific_encoder_decoder.py:39,107`), so the copy has narrower
ones put in their place (`WIDTHS`; the code is otherwise NC's). Builds `HiFiCAutoencoder` with a
narrow latent and hyper-latent and 2 residual blocks, adds seeded noise to every parameter (so that
none keeps a special initial value: ChannelNorm's unit scales, the prior's zero gates and medians),
fits the prior's quantiles to its density as CompressAI's auxiliary loss does in training, and saves
the state_dict bare, as NC's released `.ckpt` files are (NC `zoo/_msillm.py:46-48`), to
tests/data/msillm/msillm.pt. Records in msillm.npz, in eval mode, for `image()`: y, z, z rounded
around its medians, the means and scales (the nets' outputs, before the 0.11 bound), y rounded around
its means, the reconstruction before clipping, the likelihoods of y and z from NC's forward, their
bits, and the bytes of NC's compressed strings (CompressAI's rANS; for scale, not comparable
byte-wise).
"""

import os
import shutil
import sys
import tempfile
import types

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "data", "msillm")
ENCODER, GENERATOR = (4, 6, 8, 10, 12), (12, 10, 8, 6, 4)
LATENT, HYPER, BLOCKS = 12, 10, 2
_ARCH = "neuralcompression/models/_hific_encoder_decoder.py"
WIDTHS = (("enumerate((60, 120, 240, 480, 960))", f"enumerate({ENCODER})"),
          ("filters = [960, 480, 240, 120, 60]", f"filters = {list(GENERATOR)}"))
# The package `__init__` files of the copy: only what HiFiCAutoencoder imports.
_INITS = {"functional": "from ._pad_image import pad_image_to_factor\n",
          "layers": "from ._channel_norm import ChannelNorm2D\n",
          "models": "from ._hific_autoencoder import HiFiCAutoencoder\n"}


def image() -> np.ndarray:
  """A 128x192 uint8 crop of a photo: sides multiples of 64, which NC's forward needs unpadded."""
  import skimage.data  # noqa: PLC0415  (scikit-image is a test dependency, not one of jgc's)

  return skimage.data.astronaut()[64:192, 160:352]


def _nc_copy(checkout: str) -> str:
  """A copy of NC's package with the narrow widths and light `__init__` files, for importing."""
  root = tempfile.mkdtemp()
  shutil.copytree(os.path.join(checkout, "neuralcompression"), os.path.join(root, "neuralcompression"))
  path = os.path.join(root, _ARCH)
  text = open(path).read()
  for old, new in WIDTHS:
    if old not in text:
      raise SystemExit(f"{path}: no `{old}`; is this NC at commit 3f12280?")
    text = text.replace(old, new)
  open(path, "w").write(text)
  for package, init in _INITS.items():
    open(os.path.join(root, "neuralcompression", package, "__init__.py"), "w").write(init)
  return root


def _torchvision_if_missing() -> None:
  # CompressAI's registry lists torchvision's transforms at import; a CPU-only venv may lack a
  # torchvision that loads, and the model never uses it.
  try:
    import torchvision  # noqa: F401, PLC0415
  except (ImportError, OSError, RuntimeError):
    stub = types.ModuleType("torchvision")
    stub.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.update({"torchvision": stub, "torchvision.transforms": stub.transforms})


def _perturb(model, torch) -> None:  # noqa: ANN001
  """Seeded noise on every parameter, then y and z spread over several quantization steps."""
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith(".gamma"):
        p.copy_(1.0 + 0.2 * torch.randn_like(p))
      elif name.endswith(("beta", ".bias")):
        p.add_(0.1 * torch.randn_like(p))
      elif name.endswith("quantiles"):
        p.add_(torch.randn(p.shape[0], 1, 1))  # moved by the fit below
      else:  # conv kernels, and the prior's matrices and gates
        p.add_(0.1 * torch.randn_like(p) * max(float(p.std()), 1.0 if "bottleneck" in name else 0.0))
    x = _input(torch)
    y = lambda: model.encoder(x)  # noqa: E731
    z = lambda: model.hyper_analysis(y())  # noqa: E731
    # Random weights give outputs far below one quantization step: y and z spread over several
    # symbols, the means over a few, and the scales across the coder's table, above its 0.11 floor.
    for net, target, shift, inp in ((model.encoder.blocks, 4.0, 0.0, y), (model.hyper_analysis, 3.0, 0.0, z),
                                     (model.hyper_synthesis_mean, 1.5, 0.0, lambda: model.hyper_synthesis_mean(z())),
                                     (model.hyper_synthesis_scale, 1.0, 6.0,
                                      lambda: model.hyper_synthesis_scale(z()))):
      spread = target / inp().std()
      net[-1].weight.mul_(spread)
      net[-1].bias.mul_(spread).add_(shift - net[-1].bias.mean() * spread if shift else 0.0)


def _fit_quantiles(model, torch) -> None:  # noqa: ANN001
  """The prior's quantiles (its tails and medians) fitted to its density, as training's auxiliary loss fits them."""
  quantiles = model.hyper_bottleneck.quantiles
  optimizer = torch.optim.Adam([quantiles], lr=0.05)
  for _ in range(3000):
    optimizer.zero_grad()
    model.hyper_bottleneck.loss().backward()
    optimizer.step()


def _input(torch):  # noqa: ANN001, ANN202
  return torch.from_numpy(image().astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def record(model, torch) -> dict:  # noqa: ANN001
  """The eval-mode tensors of `image()`, NHWC, and NC's compressed size."""
  x, nhwc = _input(torch), lambda t: t.permute(0, 2, 3, 1).numpy()
  with torch.no_grad():
    y = model.encoder(x)
    z = model.hyper_analysis(y)
    out = model(x)
    mean, scale = model.hyper_synthesis_mean(out.hyper_latent), model.hyper_synthesis_scale(out.hyper_latent)
    assert torch.equal(out.image, model.decoder(out.latent))
  bits = {k: np.float64(-np.log2(v.numpy().astype(np.float64)).sum())
          for k, v in (("y", out.quantized_latent_likelihoods), ("z", out.quantized_hyper_latent_likelihoods))}
  model.update(force=True)
  model.update_tensor_devices("compress")
  with torch.no_grad():
    strings = model.compress(x)
  return dict(y=nhwc(y), z=nhwc(z), z_hat=nhwc(out.hyper_latent), mean=nhwc(mean), scale=nhwc(scale),
              y_hat=nhwc(out.latent), x_hat=nhwc(out.image),
              y_likelihoods=nhwc(out.quantized_latent_likelihoods),
              z_likelihoods=nhwc(out.quantized_hyper_latent_likelihoods), y_bits=bits["y"], z_bits=bits["z"],
              nc_bytes=np.int64(sum(map(len, strings.latent_strings + strings.hyper_latent_strings))))


def main() -> None:
  sys.path.insert(0, _nc_copy(sys.argv[1]))
  _torchvision_if_missing()
  import torch  # noqa: PLC0415  (only the recording needs torch)
  from neuralcompression.models import HiFiCAutoencoder  # noqa: PLC0415

  torch.manual_seed(0)
  torch.set_num_threads(1)
  model = HiFiCAutoencoder(latent_features=LATENT, hyper_features=HYPER, num_residual_blocks=BLOCKS).eval()
  _perturb(model, torch)
  _fit_quantiles(model, torch)
  os.makedirs(DATA, exist_ok=True)
  # Saved before `update()`: CompressAI's coder tables are then empty, as NC's zoo files may have them
  # (they are ignored on import either way), and the file stays small.
  torch.save(model.state_dict(), os.path.join(DATA, "msillm.pt"))
  arrays = record(model, torch)
  np.savez_compressed(os.path.join(DATA, "msillm.npz"), **arrays)
  print({k: (v.shape, float(np.abs(v).max())) for k, v in arrays.items()})


if __name__ == "__main__":
  main()
