"""Full-reference image metrics on uint8 RGB images, as the papers report them.

PSNR on the 8-bit values (HiFiC `evaluate.py`: on uint8-rounded images);
MS-SSIM (Wang et al. 2003) with the standard 11x11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03 and the five scale weights, on 0..255;
LPIPS v0.1 AlexNet with the training loss's offline weights.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jgc import errors
from jgc.models.lpips import lpips as _lpips

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW, _SIGMA = 11, 1.5


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  """PSNR in dB between two uint8 images (inf when identical)."""
  mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gaussian() -> jax.Array:
  x = jnp.arange(_WINDOW, dtype=jnp.float32) - (_WINDOW - 1) / 2
  g = jnp.exp(-(x**2) / (2 * _SIGMA**2))
  return g / g.sum()


def _filter(x: jax.Array) -> jax.Array:
  """Valid Gaussian filtering of each channel of `(C, H, W)`, separably."""
  g = _gaussian()
  x = x[:, None]
  for kernel in (g.reshape(1, 1, -1, 1), g.reshape(1, 1, 1, -1)):
    x = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID")
  return x[:, 0]


def _ssim_terms(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  mx, my = _filter(x), _filter(y)
  sxx = _filter(x * x) - mx**2
  syy = _filter(y * y) - my**2
  sxy = _filter(x * y) - mx * my
  cs = (2 * sxy + c2) / (sxx + syy + c2)
  luminance = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
  return jnp.mean(luminance * cs, axis=(1, 2)), jnp.mean(cs, axis=(1, 2))


@functools.partial(jax.jit, static_argnames="scales")
def _ms_ssim(x: jax.Array, y: jax.Array, scales: int) -> jax.Array:
  weights = jnp.asarray(MS_SSIM_WEIGHTS[:scales])
  weights = weights / weights.sum()
  values = []
  for s in range(scales):
    ssim, cs = _ssim_terms(x, y)
    values.append(jax.nn.relu(ssim if s == scales - 1 else cs))
    if s < scales - 1:
      h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
      x = x[:, :h, :w].reshape(x.shape[0], h // 2, 2, w // 2, 2).mean(axis=(2, 4))
      y = y[:, :h, :w].reshape(y.shape[0], h // 2, 2, w // 2, 2).mean(axis=(2, 4))
  per_channel = jnp.prod(jnp.stack(values) ** weights[:, None], axis=0)
  return jnp.mean(per_channel)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
  """MS-SSIM of two HxWx3 uint8 images, averaged over channels.

  Five scales need a side of at least 11 * 2^4 = 176 px; smaller images use as
  many scales as fit (renormalized weights), down to plain SSIM, and images
  smaller than the 11-px window are refused.
  """
  if min(a.shape[:2]) < _WINDOW:
    raise errors.ConfigError(f"MS-SSIM needs images of at least {_WINDOW}x{_WINDOW} px, got {a.shape[1]}x{a.shape[0]}")
  scales = 1
  while scales < len(MS_SSIM_WEIGHTS) and min(a.shape[:2]) >= _WINDOW * 2**scales:
    scales += 1
  x = jnp.asarray(a, jnp.float32).transpose(2, 0, 1)
  y = jnp.asarray(b, jnp.float32).transpose(2, 0, 1)
  return float(_ms_ssim(x, y, scales))


def lpips(a: np.ndarray, b: np.ndarray) -> float:
  """LPIPS (AlexNet, v0.1) between two uint8 images."""
  x = jnp.asarray(a, jnp.float32)[None] / 255.0
  y = jnp.asarray(b, jnp.float32)[None] / 255.0
  return float(_lpips(x, y)[0])
