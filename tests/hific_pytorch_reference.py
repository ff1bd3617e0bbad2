"""A checkpoint and outputs of the PyTorch HiFiC port's own code, which `jgc import hific-pytorch` is checked against.

    git clone https://github.com/Justin-Tan/high-fidelity-generative-compression /tmp/hific-port
    pip install -e ".[compressai-torch]" autograd && python tests/hific_pytorch_reference.py /tmp/hific-port

The port's E and G widths are constants in its code, so its modules are loaded
with narrower ones put in their place (`WIDTHS`; the code is otherwise the
port's, commit 7d4e9e7). Builds its Encoder, Generator (2 residual blocks) and
Hyperprior, adds seeded noise to every parameter (so that none keeps a special
initial value: ChannelNorm's unit scales, the density's zero gates), and saves
a checkpoint laid out as the port's `utils.save_model` lays it out (the model's
state_dict under "model_state_dict" with Discriminator and LPIPS entries an
importer must skip, an optimizer's state, the run's arguments) as
tests/data/hific_pytorch/NAME.pt, for each of `VARIANTS`. Records in
NAME.npz, in eval mode, for `image()`: y, z, the means and scales, y rounded around its means, the
reconstruction in [0, 1] before clipping, the likelihoods of y and z, and the port's
bits for y and z (which it counts as `-log2(likelihood + 1e-9)`).
"""

import os
import shutil
import sys
import tempfile

import numpy as np
import skimage.data

DATA = os.path.join(os.path.dirname(__file__), "data", "hific_pytorch")
ENCODER, GENERATOR = (4, 6, 8, 10, 12), (12, 10, 8, 6, 4)
LATENT, HYPER, BLOCKS = 5, 7, 2
WIDTHS = {"network/encoder.py": ("filters = (60, 120, 240, 480, 960)", f"filters = {ENCODER}"),
          "network/generator.py": ("filters = [960, 480, 240, 120, 60]", f"filters = {list(GENERATOR)}")}


def image() -> np.ndarray:
  """A 128x192 uint8 crop of a photo: sides multiples of 64, which the port needs unpadded, and
  large enough for its reflection padding by 2 in the hyper-analysis."""
  return skimage.data.astronaut()[64:192, 160:352]


def _port(checkout: str) -> str:
  """A copy of the port's `src` with the narrow widths, for importing as `src`."""
  root = tempfile.mkdtemp()
  shutil.copytree(os.path.join(checkout, "src"), os.path.join(root, "src"))
  for name, (old, new) in WIDTHS.items():
    path = os.path.join(root, "src", name)
    text = open(path).read()
    if old not in text:
      raise SystemExit(f"{path}: no `{old}`; is this the port at commit 7d4e9e7?")
    open(path, "w").write(text.replace(old, new))
  return root


# name: (normalize_input_image, likelihood_type), as the port's published HIFIC-low and
# HIFIC-high (images in [-1, 1], Gaussian) and HIFIC-med (images in [0, 1], logistic) were trained.
VARIANTS = {"hific": (True, "gaussian"), "hific-logistic": (False, "logistic")}


def record(name: str, seed: int) -> None:
  import torch  # noqa: PLC0415  (only the compressai-torch extra has torch)
  from src import hyperprior  # noqa: PLC0415
  from src.network import encoder, generator  # noqa: PLC0415

  normalize, likelihood_type = VARIANTS[name]
  torch.manual_seed(seed)
  modules = {"Encoder": encoder.Encoder((3, 64, 64), 1, C=LATENT),
             "Generator": generator.Generator((LATENT, 4, 4), 1, C=LATENT, n_residual_blocks=BLOCKS),
             "Hyperprior": hyperprior.Hyperprior(bottleneck_capacity=LATENT, hyperlatent_filters=HYPER,
                                                 likelihood_type=likelihood_type)}
  pixels = image().astype(np.float32) / 255.0
  x = torch.from_numpy(2.0 * pixels - 1.0 if normalize else pixels).permute(2, 0, 1)[None]
  with torch.no_grad():
    for m in modules.values():
      m.eval()
      for p in m.parameters():
        p.add_(0.1 * torch.randn_like(p))
    # Random weights give latents far below one quantization step; these spread y and z
    # over several symbols, and the scales over the coder's table.
    e, h = modules["Encoder"], modules["Hyperprior"]
    for conv, target, inp in ((e.conv_block_out[1], 4.0, lambda: e(x)),
                              (h.analysis_net.conv3, 3.0, lambda: h.analysis_net(e(x)))):
      spread = target / inp().std()
      conv.weight.mul_(spread)
      conv.bias.mul_(spread)
    h.synthesis_std.conv3.bias.add_(2.0)
    y = e(x)
    info = h(y, spatial_shape=x.shape[2:])
    z = h.analysis_net(y)
    z_hat = torch.floor(z + 0.5)
    mean = h.synthesis_mu(z_hat)
    scale = torch.clamp(h.synthesis_std(z_hat), min=hyperprior.MIN_SCALE)
    y_likelihoods = h.latent_likelihood(info.decoded, mean=mean, scale=scale)
    z_likelihoods = h.hyperlatent_likelihood(z_hat)
    x_hat = modules["Generator"](info.decoded)
    x_hat = (torch.tanh(x_hat) + 1.0) / 2.0 if normalize else x_hat
  state = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
  state["Discriminator.conv1.weight"] = torch.zeros(4, 3, 3, 3)
  state["perceptual_loss.net.lin0.model.1.weight"] = torch.zeros(1, 4, 1, 1)
  os.makedirs(DATA, exist_ok=True)
  args = {"latent_channels": LATENT, "n_residual_blocks": BLOCKS, "model_mode": "evaluation",
          "normalize_input_image": normalize, "likelihood_type": likelihood_type, "sample_noise": False,
          "use_latent_mixture_model": False, "use_channel_norm": True,
          "image_dims": (3, 64, 64), "lambda_A_map": {"low": 2.0**1}, "n_steps": 1e6}
  optimizer = torch.optim.Adam(modules["Encoder"].parameters())
  torch.save({"model_state_dict": state, "compression_optimizer_state_dict": optimizer.state_dict(), "args": args,
              "epoch": 3, "steps": 10}, os.path.join(DATA, f"{name}.pt"))
  nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
  area = x.shape[2] * x.shape[3]
  np.savez_compressed(
      os.path.join(DATA, f"{name}.npz"), y=nhwc(y), z=nhwc(z), mean=nhwc(mean), scale=nhwc(scale),
      y_hat=nhwc(info.decoded), x_hat=nhwc(x_hat), y_likelihoods=nhwc(y_likelihoods),
      z_likelihoods=nhwc(z_likelihoods), y_bits=np.array(info.latent_qbpp.item() * area),
      z_bits=np.array(info.hyperlatent_qbpp.item() * area))


def main() -> None:
  sys.path.insert(0, _port(sys.argv[1]))
  for seed, name in enumerate(VARIANTS):
    record(name, seed)


if __name__ == "__main__":
  main()
