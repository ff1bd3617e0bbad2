"""Narrow checkpoints and outputs of NeuralCompression's own MS-ILLM discriminator, VQ-VAE labeler and
OASIS losses, which jgc's `illm` discriminator, `jgc import vqvae` and `loss.gan="oasis"` are checked against.

    git clone https://github.com/facebookresearch/NeuralCompression /tmp/nc
    git -C /tmp/nc checkout 3f122808255a2278eea049119367eb3abc434862
    pip install torch scikit-image && python tests/illm_reference.py /tmp/nc

(Run here as `/work/torchvenv/bin/python tests/illm_reference.py /work/nc-src`, CPU torch.) Only NC's
model code is imported: its subpackages are registered as bare packages over their folders, so their
`__init__` files (which import NC's training and metric dependencies) never run.

Builds, with seed 0, `VqVaeXCiTAutoencoder` as NC's `zoo/_msillm_vqvae.py` does (ChannelNorm,
`ProjectLatent` -> `NormalizeLatent` -> `VQBottleneck`) but narrow (`LABELER`), with attention at two
levels, and `ConditionalUnetDiscriminator` at narrow U-Net widths (`UNET`; its last level's 64 channels
are fixed in NC's code), adds seeded noise to every parameter (so that none keeps a special initial
value: ChannelNorm's unit scales, XCA's unit temperature, zero biases), and saves the VQ-VAE's
state_dict bare, as NC's released `vqvae_xcit_p8_ch64_cb1024_h8.ckpt` is loaded (`zoo/_msillm_vqvae.py`),
to tests/data/illm/vqvae.ckpt, and D's to discriminator.pt. Records in illm.npz, NHWC, for `images()`
(two real images and G's stand-in reconstructions of them): a latent as D's context, NC's
`VqVaeProjector` labels of the real images and their squared distances to every code, D's logits on
both, and NC's OASIS D and G losses: D's on (real, fake, labels), G's on (fake, labels), as
`projects/illm/gan_compression_module.py` calls them.
"""

import importlib
import os
import sys
import types

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "data", "illm")
LABELER = dict(ch=4, ch_mult=[1, 2, 2, 4], num_res_blocks=2, resolution=64, attn_resolutions=[16, 8], embed_dim=8)
CODE, CODEBOOK = 4, 16
LATENT, CONTEXT = 6, 4
UNET = [3 + CONTEXT, 8, 8, 12, 12, 16, 16]
SIZE = (64, 128)  # NC's U-Net halves six times


def images() -> tuple[np.ndarray, np.ndarray]:
  """`(real, fake)`, float32 NHWC: two crops of a photo, `SIZE` each, in [0, 1], and G's stand-in
  reconstructions of them, noisy and a little outside [0, 1] as G's unclipped outputs are."""
  import skimage.data  # noqa: PLC0415  (scikit-image is a test dependency, not one of jgc's)

  photo = skimage.data.astronaut()
  real = np.stack([photo[100:164, 150:278], photo[300:364, 200:328]]).astype(np.float32) / 255.0
  noise = np.random.default_rng(0).normal(0.0, 0.1, real.shape).astype(np.float32)
  return real, np.clip(real + noise, -0.05, 1.05)


def _nc(checkout: str) -> dict:
  """NC's classes, imported without running its package `__init__` files but the top one."""
  sys.path.insert(0, checkout)
  import neuralcompression  # noqa: F401, PLC0415  (its own __init__ imports only the output types)

  for package in ("layers", "models", "loss_fn"):
    stub = types.ModuleType(f"neuralcompression.{package}")
    stub.__path__ = [os.path.join(checkout, "neuralcompression", package)]
    sys.modules[stub.__name__] = stub
  layers = sys.modules["neuralcompression.layers"]
  for name, module in (("XCA", "_xca"), ("ChannelNorm2D", "_channel_norm")):
    setattr(layers, name, getattr(importlib.import_module(f"neuralcompression.layers.{module}"), name))
  get = lambda module, name: getattr(importlib.import_module(f"neuralcompression.{module}"), name)  # noqa: E731
  return {"VqVaeXCiTAutoencoder": get("models._vqvae_xcit_autoencoder", "VqVaeXCiTAutoencoder"),
          "VqVaeProjector": get("models._vqvae_projector", "VqVaeProjector"),
          "ConditionalUnetDiscriminator": get("models._unet_discriminator", "ConditionalUnetDiscriminator"),
          "ProjectLatent": get("layers._project_latent", "ProjectLatent"),
          "NormalizeLatent": get("layers._normalize_latent", "NormalizeLatent"),
          "VQBottleneck": get("layers._vq_bottleneck", "VQBottleneck"),
          "OASISDiscriminatorLoss": get("loss_fn._oasis_loss", "OASISDiscriminatorLoss"),
          "OASISGeneratorLoss": get("loss_fn._oasis_loss", "OASISGeneratorLoss")}


def _perturb(model, torch) -> None:  # noqa: ANN001
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith((".gamma", "temperature")):
        p.copy_(1.0 + 0.3 * torch.randn_like(p))
      elif name.endswith(("beta", ".bias")):
        p.add_(0.1 * torch.randn_like(p))
      elif "codebooks" not in name:  # set from the images' codes below
        p.add_(0.2 * torch.randn_like(p) * float(p.std()))


def _nhwc(t) -> np.ndarray:  # noqa: ANN001
  return t.permute(0, 2, 3, 1).numpy()


def main() -> None:
  nc = _nc(sys.argv[1])
  import torch  # noqa: PLC0415  (only the recording needs torch)

  torch.manual_seed(0)
  torch.set_num_threads(1)
  bottleneck = nc["ProjectLatent"](input_dim=LABELER["embed_dim"], output_dim=CODE, child=nc["NormalizeLatent"](
      child=nc["VQBottleneck"](codebook_size=CODEBOOK, vector_length=CODE)))
  vqvae = nc["VqVaeXCiTAutoencoder"](**LABELER, out_ch=3, dropout=0.0, resamp_with_conv=True, in_channels=3,
                                     freeze_encoder=False, norm_type="channel", bottleneck_op=bottleneck)
  disc = nc["ConditionalUnetDiscriminator"](output_channels=CODEBOOK + 1, output_downsampling_factor=8,
                                             context_in=LATENT, context_out=CONTEXT, chans=UNET, norm_type="identity")
  for model in (vqvae, disc):
    _perturb(model, torch)
  projector = nc["VqVaeProjector"](vqvae)
  real, fake = (torch.from_numpy(a).permute(0, 3, 1, 2) for a in images())
  context = torch.randn(2, LATENT, SIZE[0] // 16, SIZE[1] // 16) * 2.0
  with torch.no_grad():
    codes = torch.nn.functional.normalize(bottleneck.input_conv(vqvae.encoder(real)), dim=1)
    # A codebook of the images' own codes, jittered, as a trained one covers its data: random codes
    # would put every patch of these random-weight encodings on one code.
    flat = codes.permute(0, 2, 3, 1).reshape(-1, CODE)
    picked = flat[torch.randperm(len(flat))[:CODEBOOK]]
    bottleneck.child.child.codebooks[0].copy_(picked + 0.05 * torch.randn_like(picked))
    labels = projector(real).reshape(2, SIZE[0] // 8, SIZE[1] // 8)
    codebook = torch.nn.functional.normalize(bottleneck.child.child.codebooks[0], dim=1)
    distances = ((codes.permute(0, 2, 3, 1)[..., None, :] - codebook) ** 2).sum(-1)
    real_logits, fake_logits = disc(real, context), disc(fake, context)
    d_loss = nc["OASISDiscriminatorLoss"]()(real_logits=real_logits, fake_logits=fake_logits, target=labels)
    g_loss = nc["OASISGeneratorLoss"]()(fake_logits, labels)
  os.makedirs(DATA, exist_ok=True)
  torch.save(vqvae.state_dict(), os.path.join(DATA, "vqvae.ckpt"))
  torch.save(disc.state_dict(), os.path.join(DATA, "discriminator.pt"))
  arrays = dict(context=_nhwc(context), labels=labels.numpy(),
                distances=distances.numpy(), real_logits=_nhwc(real_logits), fake_logits=_nhwc(fake_logits),
                d_loss=d_loss.numpy(), g_loss=g_loss.numpy())
  np.savez_compressed(os.path.join(DATA, "illm.npz"), **arrays)
  print({k: (v.shape, float(np.abs(v).max())) for k, v in arrays.items()}, np.unique(arrays["labels"]))


if __name__ == "__main__":
  main()
