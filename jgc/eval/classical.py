"""Classical codecs, and the quality that hits a target bpp.

JPEG with 4:2:0 and with 4:4:4 chroma, WebP and AVIF through Pillow (where it
was built with them); JPEG XL through `pillow-jxl-plugin`; HEVC intra, the
codec inside BPG, through an ffmpeg with libx265: the one on PATH (Debian's
`ffmpeg` package), else the binary `imageio-ffmpeg` ships. Rates are from the
encoded bytes, like ours. All take a quality 1..100 where more is better.
"""

import functools
import io
import shutil
import struct
import subprocess

import numpy as np
from PIL import Image, features

from jgc import errors

try:
  import pillow_jxl  # noqa: F401  (importing registers JPEG XL with Pillow)
  _JXL = True
except ImportError:
  _JXL = False

# name -> (Pillow format, save options, whether this Pillow can write it)
_PILLOW = {
    "jpeg420": ("JPEG", {"subsampling": 2}, lambda: features.check("jpg")),
    "jpeg444": ("JPEG", {"subsampling": 0}, lambda: features.check("jpg")),
    "webp": ("WEBP", {"method": 6}, lambda: features.check("webp")),
    "avif": ("AVIF", {"speed": 6}, lambda: features.check("avif")),
    "jxl": ("JXL", {"effort": 7}, lambda: _JXL),
}
CODECS = (*_PILLOW, "hevc")
WHY_MISSING = {"jpeg420": "this Pillow has no JPEG", "jpeg444": "this Pillow has no JPEG",
               "webp": "this Pillow has no WebP", "avif": "this Pillow has no AVIF",
               "jxl": "pillow-jxl-plugin is not installed", "hevc": "no ffmpeg with libx265 found"}
# Output options. swscale's defaults darken RGB -> YUV -> RGB by about 1.2 levels; accurate rounding removes the bias.
_SWS = ["-sws_flags", "accurate_rnd+full_chroma_int+bitexact"]
_HEVC_HEADER = ">HH"  # width, height: the raw stream's only container, 4 bytes, counted in the rate as BPG's is.


class CodecError(errors.Error, RuntimeError):
  """An external encoder or decoder failed."""


@functools.cache
def _ffmpeg() -> str | None:
  """An ffmpeg binary that has libx265, or None."""
  candidates = [shutil.which("ffmpeg")]
  try:
    import imageio_ffmpeg  # noqa: PLC0415  (optional: a static ffmpeg for machines without one)
    candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
  except (ImportError, RuntimeError):
    pass
  for exe in filter(None, candidates):
    try:
      out = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
      continue
    if "libx265" in out:
      return exe
  return None


def available() -> dict[str, bool]:
  """Which codecs can run here."""
  return {**{name: bool(ok()) for name, (_, _, ok) in _PILLOW.items()}, "hevc": _ffmpeg() is not None}


def _run(args: list[str], data: bytes) -> bytes:
  result = subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", *args], input=data,
                          capture_output=True, timeout=300)
  if result.returncode != 0 or not result.stdout:
    raise CodecError(f"ffmpeg failed: {result.stderr.decode(errors='replace').strip()[-500:]}")
  return result.stdout


def _hevc_encode(image: np.ndarray, quality: int) -> bytes:
  h, w = image.shape[:2]
  # 4:2:0 needs even sides: replicate the last row and column, cropped again after decoding.
  even = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
  qp = round((100 - quality) * 51 / 99)  # quality 100 -> QP 0, quality 1 -> QP 51
  stream = _run(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{even.shape[1]}x{even.shape[0]}", "-i", "-",
                 *_SWS, "-frames:v", "1", "-c:v", "libx265", "-preset", "medium",
                 "-x265-params", f"qp={qp}:log-level=error", "-pix_fmt", "yuv420p", "-f", "hevc", "-"],
                even.tobytes())
  return struct.pack(_HEVC_HEADER, w, h) + stream


def _hevc_decode(data: bytes) -> np.ndarray:
  size = struct.calcsize(_HEVC_HEADER)
  w, h = struct.unpack(_HEVC_HEADER, data[:size])
  raw = _run(["-f", "hevc", "-i", "-", *_SWS, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], data[size:])
  even_h, even_w = h + h % 2, w + w % 2
  if len(raw) != even_h * even_w * 3:
    raise CodecError(f"ffmpeg decoded {len(raw)} bytes, expected {even_h}x{even_w}x3")
  return np.frombuffer(raw, np.uint8).reshape(even_h, even_w, 3)[:h, :w]


def encode(name: str, image: np.ndarray, quality: int) -> bytes:
  """`image` (HxWx3 uint8) as `name` at quality 1..100."""
  if name == "hevc":
    return _hevc_encode(image, quality)
  fmt, options, _ = _PILLOW[name]
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format=fmt, quality=int(quality), **options)
  return buf.getvalue()


def decode(name: str, data: bytes) -> np.ndarray:
  """The HxWx3 uint8 image that `encode(name, ...)` wrote."""
  if name == "hevc":
    return _hevc_decode(data)
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
