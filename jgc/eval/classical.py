"""Classical codecs through Pillow, and the quality that hits a target bpp.

JPEG with 4:2:0 and with 4:4:4 chroma, WebP and AVIF (where this Pillow was
built with them). Rates are from the encoded bytes, like ours.
"""

import io

import numpy as np
from PIL import Image, features

# name -> (Pillow format, save options, Pillow feature that must exist)
CODECS = {
    "jpeg420": ("JPEG", {"subsampling": 2}, "jpg"),
    "jpeg444": ("JPEG", {"subsampling": 0}, "jpg"),
    "webp": ("WEBP", {"method": 6}, "webp"),
    "avif": ("AVIF", {"speed": 6}, "avif"),
}


def available() -> dict[str, bool]:
  """Which codecs this Pillow can write."""
  return {name: bool(features.check(feature)) for name, (_, _, feature) in CODECS.items()}


def encode(name: str, image: np.ndarray, quality: int) -> bytes:
  """`image` (HxWx3 uint8) as `name` at Pillow quality 1..100."""
  fmt, options, _ = CODECS[name]
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format=fmt, quality=int(quality), **options)
  return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
  with Image.open(io.BytesIO(data)) as img:
    return np.asarray(img.convert("RGB"), np.uint8)


def bpp(data: bytes, image: np.ndarray) -> float:
  return 8 * len(data) / (image.shape[0] * image.shape[1])


def at_bpp(name: str, image: np.ndarray, target_bpp: float) -> tuple[bytes, int]:
  """The encoding whose rate is nearest `target_bpp`, and its quality.

  Bisection over the integer quality (rate grows with it), then the nearer
  of the two neighbours; 7 encodes per image.
  """
  lo, hi = 1, 100
  while hi - lo > 1:
    mid = (lo + hi) // 2
    if bpp(encode(name, image, mid), image) <= target_bpp:
      lo = mid
    else:
      hi = mid
  candidates = [(q, encode(name, image, q)) for q in (lo, hi)]
  q, data = min(candidates, key=lambda c: abs(bpp(c[1], image) - target_bpp))
  return data, q
