"""Bundles of narrow, randomly initialized models for the codec tests."""

import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
from model_helpers import NARROW

from jgc.codec import bundle as bundles
from jgc.models import build_model

CONFIGS = {
    "hific": dict(name="hific", latent_channels=8, hyper_channels=8, **NARROW),
    "scale": dict(name="hyperprior", prior="scale", channels=8, latent_channels=8),
    "mean_scale": dict(name="hyperprior", prior="mean_scale", channels=8, latent_channels=8),
    "autoregressive": dict(name="hyperprior", prior="autoregressive", channels=8, latent_channels=8),
    "gc": dict(name="gc", latent_channels=4, **NARROW),
    "vaegan": dict(name="vaegan", latent_channels=4, **NARROW),
}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_readme_model(workdir) -> None:
  """The README's main command, shortened to two steps, in `workdir`."""
  subprocess.run([sys.executable, "-m", "jgc.main", "--config=configs/hific.py:tiny", f"--workdir={workdir}",
                  "--config.num_steps=2"], cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=True,
                 capture_output=True, timeout=600)


@functools.cache
def bundle_bytes(kind: str, seed: int = 0) -> bytes:
  cfg = CONFIGS[kind]
  x = jnp.zeros((1, 32, 32, 3))
  v = build_model(cfg).init({"params": jax.random.key(seed), "noise": jax.random.key(1)}, x, train=False)
  return bundles.build(cfg, v["params"])


def bundle(kind: str, seed: int = 0) -> bundles.Bundle:
  return bundles.parse(bundle_bytes(kind, seed))
