"""Transforms of images beyond the memory budget, in overlapping tiles.

A tile is computed in a window: the tile and the transform's radius around it (the model's
`analysis_radius` or `synthesis_radius`), moved inward at the latent's edges. What the tile's part
of the window's output reads lies inside the window, so it is what the whole image's transform
computes there, and the tiles put together are the whole image's result.
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np

# Tiles tried, largest first, when the whole image's transform exceeds the memory budget
# (latent positions per side).
TILES = (256, 128, 64, 32, 16)


def window(latent_hw: tuple[int, int], tile: int, radius: int) -> tuple[int, int]:
  """The latent positions a tile is computed with: itself and `radius` around it."""
  reach = tile + 2 * radius
  return min(latent_hw[0], reach), min(latent_hw[1], reach)


def largest(latent_hw: tuple[int, int], radius: int,
            fits: Callable[[tuple[int, int]], bool]) -> tuple[tuple[int, int], int] | None:
  """`(window, tile)` of the largest of `TILES` whose window is smaller than the whole latent and
  `fits`; None if none does."""
  for tile in TILES:
    reach = window(latent_hw, tile, radius)
    if reach != latent_hw and fits(reach):
      return reach, tile
  return None


def analyze(analysis: Callable[[np.ndarray], np.ndarray], image: np.ndarray, reach: tuple[int, int], tile: int,
            radius: int, stride: int) -> np.ndarray:
  """The latent of `image` (HxWx3, padded to the stride) from windows of `reach` latent positions:
  `analysis(pixels of a window)` is the window's latent, `(1, *reach, channels)`."""
  latent_hw = (image.shape[0] // stride, image.shape[1] // stride)
  latent = None
  for place, inner, (rows, cols) in _tiles(latent_hw, reach, tile, radius):
    y = analysis(image[_scaled(rows, stride), _scaled(cols, stride)])
    if latent is None:
      latent = np.zeros((1, *latent_hw, y.shape[-1]), y.dtype)
    latent[(slice(None), *place)] = y[(slice(None), *inner)]
  return latent


def synthesize(synthesis: Callable[..., np.ndarray], latents: Sequence[np.ndarray], reach: tuple[int, int],
               tile: int, radius: int, stride: int) -> np.ndarray:
  """The uint8 image of `latents` (each `(1, h, w, channels)`) from windows of `reach` latent
  positions: `synthesis(*latents of a window)` is the window's uint8 image."""
  lh, lw = latents[0].shape[1:3]
  image = np.zeros((lh * stride, lw * stride, 3), np.uint8)
  for place, inner, (rows, cols) in _tiles((lh, lw), reach, tile, radius):
    x = synthesis(*(v[:, rows, cols] for v in latents))
    image[tuple(_scaled(s, stride) for s in place)] = x[tuple(_scaled(s, stride) for s in inner)]
  return image


def _tiles(latent_hw: tuple[int, int], reach: tuple[int, int], tile: int,
           radius: int) -> Iterator[tuple[tuple[slice, slice], ...]]:
  """`(tile, tile in its window, window)`, each a `(rows, cols)` pair of latent slices, for every
  `tile`-square tile of a latent of `latent_hw`."""
  (lh, lw), (wh, ww) = latent_hw, reach
  for i in range(0, lh, tile):
    for j in range(0, lw, tile):
      a, b = min(max(i - radius, 0), lh - wh), min(max(j - radius, 0), lw - ww)
      th, tw = min(tile, lh - i), min(tile, lw - j)
      yield ((slice(i, i + th), slice(j, j + tw)), (slice(i - a, i - a + th), slice(j - b, j - b + tw)),
             (slice(a, a + wh), slice(b, b + ww)))


def _scaled(s: slice, factor: int) -> slice:
  """Latent positions `s` as pixels."""
  return slice(s.start * factor, s.stop * factor)
