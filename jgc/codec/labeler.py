"""Labeler files: the frozen VQ-VAE whose codes are MS-ILLM's discriminator targets (`jgc.models.illm.VQLabeler`).

Written by `jgc import vqvae`, read by training (`discriminator.labeler`). Like a model bundle, but
with no coding tables: the labeler is never coded with, only applied.

File: `MAGIC` (8 bytes), then a msgpack map (`flax.serialization`): the format version, the labeler's
fields as JSON and its float32 parameters.
"""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jgc import errors
from jgc.codec.bundle import leaf_mismatches
from jgc.io import paths
from jgc.models.illm import VQLabeler

MAGIC = b"JGCLABEL"
VERSION = 1


class LabelerError(errors.Error, ValueError):
  """A labeler file is missing, corrupt, foreign, of an unknown version, or does not fit its labeler."""


@dataclasses.dataclass(frozen=True, eq=False)
class Labeler:
  """A loaded labeler: its fields (`VQLabeler`'s) and parameters."""

  config: dict
  params: dict

  @functools.cached_property
  def module(self) -> VQLabeler:
    return module(self.config)


def module(config: dict) -> VQLabeler:
  """The `VQLabeler` of a labeler file's fields."""
  return VQLabeler(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})


def mismatches(config: dict, params: dict) -> list[str]:
  """How `params` differ from those of `config`'s labeler: leaves missing, extra or of another shape."""
  labeler = module(config)
  side = 4 * labeler.factor
  expected = jax.eval_shape(lambda: labeler.init(jax.random.key(0), jnp.zeros((1, side, side, 3))))
  return leaf_mismatches(expected["params"], params)


def build(config: dict, params: dict) -> bytes:
  """The labeler file's bytes."""
  tree = {"version": VERSION, "model": json.dumps(config, sort_keys=True),
          "params": jax.tree.map(lambda a: np.asarray(a, np.float32), params)}
  return MAGIC + serialization.msgpack_serialize(tree)


def load(path: str) -> Labeler:
  """Reads a labeler file (a local path or gs:// URL); `NotFound` or `CannotRead` if it cannot be
  read, `LabelerError` naming what is wrong with it."""
  return parse(paths.read_bytes(path), path)


def parse(data: bytes, name: str = "labeler") -> Labeler:
  if not data.startswith(MAGIC):
    raise LabelerError(f"{name} is not a jgc labeler file (no {MAGIC!r} header; make one with `jgc import vqvae`)")
  try:
    tree = serialization.msgpack_restore(data[len(MAGIC):])
    version = int(tree["version"])
    if version != VERSION:
      raise LabelerError(f"{name} has labeler format version {version}; this jgc reads version {VERSION}")
    config, params = json.loads(tree["model"]), tree["params"]
    if not isinstance(config, dict) or not isinstance(params, dict):
      raise LabelerError(f"{name} is a corrupt labeler file: its fields or parameters are not maps")
    wrong = mismatches(config, params)
  except LabelerError:
    raise
  except Exception as e:  # msgpack, missing keys and fields the labeler does not take mean the same to the user
    raise LabelerError(f"{name} is a corrupt labeler file: {type(e).__name__}: {e}") from None
  if wrong:
    raise LabelerError(f"{name} has parameters that do not fit its labeler: " + "; ".join(wrong[:3]))
  if not all(isinstance(a, np.ndarray) and a.dtype == np.float32 and np.all(np.isfinite(a))
             for a in jax.tree.leaves(params)):
    raise LabelerError(f"{name} has parameters that are not finite float32 arrays")
  return Labeler(config, params)
