"""The public codec object: `jgc.load(path)` returns one.

    import jgc
    model = jgc.load("mbt2018-mean-q3.jgcm")
    data = model.compress(image)          # bytes of a .jgc file
    decoded = model.decompress(data)      # HxWx3 uint8
    model.estimate_bpp(image)             # the model's own rate estimate

Images are HxWx3 uint8 arrays or Pillow images of any mode (converted as
`jgc compress` converts files).
"""

import os

import numpy as np
from PIL import Image

from jgc import errors
from jgc.codec import bundle as bundles
from jgc.codec.compressor import Codec
from jgc.io import image_files


def _rgb8(image: np.ndarray | Image.Image) -> np.ndarray:
  if isinstance(image, Image.Image):
    return image_files.to_rgb8(image)[0]
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
    raise errors.ConfigError(f"expected an HxWx3 uint8 RGB array or a Pillow image, got {image.dtype} {image.shape}")
  return image


class Model:
  """A model bundle ready to code images; see the module docstring."""

  def __init__(self, bundle: bundles.Bundle):
    self.bundle = bundle
    self._codec = Codec(bundle)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "Model":
    """Reads a bundle (a local path or gs:// URL); `BundleError` names what is wrong."""
    return cls(bundles.load(os.fspath(path)))

  @property
  def name(self) -> str:
    return self.bundle.name

  @property
  def model_id(self) -> str:
    """The bundle's id, which every file it writes carries (hex)."""
    return self.bundle.model_id.hex()

  def compress(self, image: np.ndarray | Image.Image) -> bytes:
    """The bytes of a `.jgc` file for `image`."""
    return self._codec.compress(_rgb8(image))

  def decompress(self, data: bytes) -> np.ndarray:
    """The HxWx3 uint8 image of a `.jgc` file made with this model."""
    return self._codec.decompress(bytes(data))

  def estimate_bpp(self, image: np.ndarray | Image.Image) -> float:
    """The model's own estimate of the rate, bits per pixel (real files add a header of at most 32 bytes)."""
    image = _rgb8(image)
    return self._codec.estimate_bits(image) / (image.shape[0] * image.shape[1])
