"""Reading image files of any mode into RGB uint8, with a reason when it fails.

Shared by the input pipeline and the codec: grayscale, palette, RGBA (alpha
dropped), CMYK, 16-bit and other Pillow modes become 8-bit RGB; corrupt,
truncated or foreign files raise `BadImage` naming the problem.
"""

import io
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from jgc import errors
from jgc.io import paths

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".gif")


class BadImage(errors.Error, ValueError):
  """A file that cannot be read as an image."""


def to_rgb8(img: Image.Image) -> tuple[np.ndarray, str | None]:
  """Converts a Pillow image to an HxWx3 uint8 array; returns it and a note on any lossy conversion."""
  note = None
  if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
    # Pillow's convert("L") clips 16-bit values instead of rescaling them.
    a = np.asarray(img, np.float64)
    peak = 65535.0 if img.mode.startswith("I") and a.max() > 255 else max(a.max(), 1.0)
    note = f"{img.mode} scaled to 8 bits"
    img = Image.fromarray(np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
  if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
    note = "alpha channel dropped"
  if img.mode != "RGB":
    img = img.convert("RGB")
  return np.asarray(img, np.uint8), note


def decode(data: bytes, name: str = "image") -> tuple[np.ndarray, str | None]:
  """Decodes encoded image bytes to RGB uint8; raises `BadImage` with the reason."""
  if not data:
    raise BadImage(f"{name}: empty file")
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.mode == "RGB" and img.format in ("JPEG", "PNG"):
          return np.asarray(img, np.uint8), None
        return to_rgb8(img)
  except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    raise BadImage(f"{name}: not a readable image ({e})") from None
  except (OSError, SyntaxError, ValueError) as e:
    raise BadImage(f"{name}: corrupt or truncated image ({e})") from None


def read(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
  """Reads an image file (a local path or gs:// URL) to RGB uint8; raises `BadImage`, `NotFound` or
  `CannotRead` (`jgc.errors`) with the reason."""
  return decode(paths.read_bytes(path), path)
