"""FID/256 and KID/256: Inception feature statistics over 256-px patches.

HiFiC's FID/256 (Mentzer et al. 2020, experiments) measures realism on
high-resolution images by cutting each into non-overlapping 256x256 patches,
and again after shifting by 128 px when the image is at least 1.5 patches on
both sides (NeuralCompression's `update_patch_fid` gives the same rule). FID is the
Frechet distance between Gaussians fitted to the features (Heusel et al.
2017); KID an unbiased squared MMD with the kernel (x.y / d + 1)^3
(Binkowski et al. 2018). FID is biased upward by small sets: compare only at
equal patch counts, and read FID below ~2,000 patches as a relative measure.
"""

import numpy as np

PATCH_PX = 256


def patches(image: np.ndarray, px: int = PATCH_PX) -> np.ndarray:
  """The (N, px, px, 3) patches of one (H, W, 3) image: the grid, then the grid shifted by px / 2."""
  grids = [image]
  h, w = image.shape[:2]
  if h >= 1.5 * px and w >= 1.5 * px:
    grids.append(image[px // 2 :, px // 2 :])
  out = [g[i : i + px, j : j + px] for g in grids
         for i in range(0, g.shape[0] - px + 1, px) for j in range(0, g.shape[1] - px + 1, px)]
  return np.stack(out) if out else np.zeros((0, px, px, image.shape[2]), image.dtype)


def _check(a: np.ndarray, b: np.ndarray, minimum: int) -> None:
  if len(a) < minimum or len(b) < minimum:
    raise ValueError(f"needs at least {minimum} patches in each set, got {len(a)} and {len(b)}")


def fid(a: np.ndarray, b: np.ndarray) -> float:
  """Frechet distance between the feature sets' Gaussians (rows are samples)."""
  _check(a, b, 2)
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  # Tr sqrt(Sa Sb) = Tr sqrt(Sa^1/2 Sb Sa^1/2), whose argument is symmetric PSD: eigh stays real and stable.
  w, v = np.linalg.eigh(sa)
  root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ sb @ root_a), 0, None)).sum()
  return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2 * cross)


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
  """Unbiased squared MMD of paired sets, kernel (x.y / d + 1)^3, averaged over subsets of at most 1000 pairs.

  Row i of `b` is the reconstruction of row i of `a`. The estimator is the
  U-statistic over pairs (Gretton et al. 2012, Lemma 6), which leaves out
  k(a_i, b_i) as well as k(a_i, a_i) and k(b_i, b_i): it stays unbiased when
  the two sets are paired, and is 0 for identical sets. torch-fidelity's
  estimator keeps k(a_i, b_i), which pulls paired sets down by about
  2 (mean k(a_i, a_i) - mean k(a_i, a_j)) / m.
  """
  _check(a, b, 2)
  if a.shape != b.shape:
    raise ValueError(f"KID compares paired sets of equal shape, got {a.shape} and {b.shape}")
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  n, d = a.shape
  m = min(subset_size, n)
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(1 if m == n else subsets):
    idx = np.arange(n) if m == n else rng.choice(n, m, replace=False)
    x, y = a[idx], b[idx]
    kxy = (x @ y.T / d + 1) ** 3
    h = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3 - kxy - kxy.T
    values.append((h.sum() - np.trace(h)) / (m * (m - 1)))
  return float(np.mean(values))
