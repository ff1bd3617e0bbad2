"""The model zoo: pure Flax (linen) modules with one interface.

Every codec model maps `__call__(x, *, train)` to `(x_hat, aux)`, images NHWC
float32 in [0, 1]; `aux` holds "latents", "quantized", "bits" (noisy in
training) and "bits_rounded", per entropy model, bits per image. Every
discriminator maps `(x, y_hat, *, train)` to `(logits, features)`.
"""

from collections.abc import Mapping

import flax.linen as nn

from jgc.models.discriminators import (
    ConditionalPatchDiscriminator,
    FeatureDiscriminator,
    MultiScaleDiscriminator,
)
from jgc.models.gc import GC
from jgc.models.hific import HiFiC
from jgc.models.hyperprior import HyperpriorCodec
from jgc.models.vaegan import VAEGAN

MODELS = {"hific": HiFiC, "hyperprior": HyperpriorCodec, "gc": GC, "vaegan": VAEGAN}
DISCRIMINATORS = {
    "patch": ConditionalPatchDiscriminator,
    "multiscale": MultiScaleDiscriminator,
    "feature": FeatureDiscriminator,
}


def _build(registry: dict, kind: str, cfg: Mapping) -> nn.Module:
  kwargs = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
  name = kwargs.pop("name", None)
  if name not in registry:
    raise ValueError(f"unknown {kind} {name!r}; choose one of {sorted(registry)}")
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
  try:
    return registry[name](**kwargs)
  except TypeError as e:
    raise ValueError(f"bad settings for {kind} {name!r}: {e}") from None


def build_model(cfg: Mapping) -> nn.Module:
  """The codec model a config's `model` block names (`name` plus its attributes)."""
  return _build(MODELS, "model", cfg)


def build_discriminator(cfg: Mapping) -> nn.Module:
  """The discriminator a config's `discriminator` block names."""
  return _build(DISCRIMINATORS, "discriminator", cfg)


__all__ = [
    "DISCRIMINATORS",
    "GC",
    "MODELS",
    "VAEGAN",
    "ConditionalPatchDiscriminator",
    "FeatureDiscriminator",
    "HiFiC",
    "HyperpriorCodec",
    "MultiScaleDiscriminator",
    "build_discriminator",
    "build_model",
]
