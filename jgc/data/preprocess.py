"""HiFiC's training crops (TFC `models/hific/model.py::_get_dataset`).

Each image is downscaled by a random factor in [0.75, 0.95] to remove JPEG
artifacts, or upscaled just enough that its short side reaches the crop;
then a random crop and a random horizontal flip. Only the crop's source
region is resampled (Pillow's `box`), which keeps a 2-core host fast enough.
"""

import numpy as np
from PIL import Image

SCALE_RANGE = (0.75, 0.95)


def random_crop(image: np.ndarray, crop_px: int, rng: np.random.Generator,
                scale_range: tuple[float, float] = SCALE_RANGE) -> np.ndarray:
  """A `crop_px x crop_px x 3` uint8 crop of an HxWx3 uint8 image."""
  h, w = image.shape[:2]
  factor = rng.uniform(*scale_range)
  factor = max(factor, crop_px / min(h, w))
  # The crop window in source pixels, placed uniformly in the scaled image.
  side = crop_px / factor
  top = rng.uniform(0, max(h - side, 0))
  left = rng.uniform(0, max(w - side, 0))
  box = (left, top, min(left + side, w), min(top + side, h))
  out = Image.fromarray(image).resize((crop_px, crop_px), Image.BILINEAR, box=box)
  out = np.asarray(out)
  return out[:, ::-1] if rng.random() < 0.5 else out
