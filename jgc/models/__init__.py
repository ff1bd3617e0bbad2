"""The model zoo: pure Flax (linen) modules with one interface.

Every codec model maps `__call__(x, *, train)` to `(x_hat, aux)`, images NHWC
float32 in [0, 1]; `aux` holds "latents", "quantized", "bits" (noisy in
training) and "bits_rounded", per entropy model, bits per image; `MAIN_LATENT`
names the latent D is conditioned on. A codable model also declares its coding
(`coding()`, `jgc.models.coding`): its streams, their entropy models and the
side-information networks, which is all `jgc.codec` reads of it. Every
discriminator maps `(x, y_hat, *, train)` to `(logits, features)`.
"""

import dataclasses
from collections.abc import Mapping

import flax.linen as nn
import jax.numpy as jnp

from jgc import errors
from jgc.models.discriminators import (
  ConditionalPatchDiscriminator,
  FeatureDiscriminator,
  MultiScaleDiscriminator,
)
from jgc.models.gc import GC
from jgc.models.hific import HiFiC
from jgc.models.hyperprior import HyperpriorCodec
from jgc.models.illm import ConditionalUnetDiscriminator
from jgc.models.vaegan import VAEGAN

MODELS = {"hific": HiFiC, "hyperprior": HyperpriorCodec, "gc": GC, "vaegan": VAEGAN}
DISCRIMINATORS = {
    "patch": ConditionalPatchDiscriminator,
    "multiscale": MultiScaleDiscriminator,
    "feature": FeatureDiscriminator,
    "illm": ConditionalUnetDiscriminator,
}


def _build(registry: dict, kind: str, cfg: Mapping, dtype: str) -> nn.Module:
  kwargs = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
  name = kwargs.pop("name", None)
  if name not in registry:
    raise errors.ConfigError(f"unknown {kind} {name!r}; choose one of {sorted(registry)}")
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
  if jnp.dtype(dtype) != jnp.float32:
    if "dtype" not in {f.name for f in dataclasses.fields(registry[name])}:
      raise errors.ConfigError(f"{kind} {name!r} runs in float32 only; set compute_dtype to float32")
    kwargs["dtype"] = jnp.dtype(dtype)
  try:
    return registry[name](**kwargs)
  except TypeError as e:
    raise errors.ConfigError(f"bad settings for {kind} {name!r}: {e}") from None


def build_model(cfg: Mapping, dtype: str = "float32") -> nn.Module:
  """The codec model a config's `model` block names (`name` plus its attributes);
  `dtype` is the transforms' compute type (parameters stay float32)."""
  return _build(MODELS, "model", cfg, dtype)


def build_discriminator(cfg: Mapping, dtype: str = "float32") -> nn.Module:
  """The discriminator a config's `discriminator` block names, computing in `dtype`. Its `labeler`
  (MS-ILLM's, a file) is the trainer's to load (`jgc.training.loop`), not a field of the module."""
  cfg = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
  cfg.pop("labeler", None)
  return _build(DISCRIMINATORS, "discriminator", cfg, dtype)


__all__ = [
    "DISCRIMINATORS",
    "GC",
    "MODELS",
    "VAEGAN",
    "ConditionalPatchDiscriminator",
    "ConditionalUnetDiscriminator",
    "FeatureDiscriminator",
    "HiFiC",
    "HyperpriorCodec",
    "MultiScaleDiscriminator",
    "build_discriminator",
    "build_model",
]
