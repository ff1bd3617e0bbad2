"""Inference bundles: what compress and decompress need, in one versioned file.

A bundle holds the config's `model` block, the codec model's parameters (no
discriminator, no optimizer state), the CDF tables both sides code with, and
the Gaussian scale-snapping boundaries. Tables and boundaries are stored, not
rebuilt, because two machines' `erfc` and `exp` can differ in the last bit.
Its id is the first 8 bytes of the SHA-256 of its contents; every compressed
file names the id of the bundle that made it.

File: `MAGIC` (8 bytes), then a msgpack map (`flax.serialization`).
"""

import dataclasses
import functools
import hashlib
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jgc import errors
from jgc.codec.tables import CdfTables, factorized_tables, scale_tables
from jgc.entropy import FactorizedPrior
from jgc.entropy.gaussian import SNAP_BOUNDARIES
from jgc.io import paths
from jgc.models import MODELS, build_model
from jgc.models.coding import Coding, params_at

MAGIC = b"JGCMODEL"
VERSION = 1
# The models that declare their coding.
CODED = tuple(name for name, cls in MODELS.items() if hasattr(cls, "coding"))


class BundleError(errors.Error, ValueError):
  """A bundle file is missing, corrupt, foreign or of an unknown version."""


@dataclasses.dataclass(frozen=True, eq=False)
class Bundle:
  """A loaded bundle. `tables` maps a stream name ("z", "y", "w") to its tables."""

  model_config: dict
  params: dict
  tables: dict[str, CdfTables]
  boundaries: np.ndarray
  model_id: bytes

  @functools.cached_property
  def model(self) -> nn.Module:
    return build_model(self.model_config)

  @property
  def name(self) -> str:
    return self.model_config["name"]

  @functools.cached_property
  def coding(self) -> Coding:
    return self.model.coding()


def _payload(model_config: dict, params: dict, tables: dict[str, CdfTables], boundaries: np.ndarray) -> bytes:
  tree = {
      "version": VERSION,
      "model": json.dumps(model_config, sort_keys=True),
      "params": jax.tree.map(lambda a: np.asarray(a, np.float32), params),
      "tables": {k: t.to_arrays() for k, t in tables.items()},
      "boundaries": np.asarray(boundaries, np.float32),
  }
  return serialization.msgpack_serialize(tree)


def param_mismatches(model_config: dict, params: dict, image_hw: tuple[int, int] = (128, 128)) -> list[str]:
  """How `params` differ from the parameters of `model_config`'s model: leaves missing, extra or
  of another shape (`[]` if none). `image_hw`: an input size the model accepts (shapes only)."""
  model = build_model(model_config)
  expected = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *image_hw, 3)), train=False))
  return leaf_mismatches(expected["params"], params)


def leaf_mismatches(expected: dict, params: dict) -> list[str]:
  """How the leaves of `params` differ from those of `expected` (arrays or shape structs): missing,
  extra or of another shape, each named by its path (`[]` if none)."""
  want = {jax.tree_util.keystr(k): a.shape for k, a in jax.tree_util.tree_leaves_with_path(expected)}
  got = {jax.tree_util.keystr(k): np.shape(a) for k, a in jax.tree_util.tree_leaves_with_path(params)}
  wrong = [f"{k} is {got[k]}, not {v}" if k in got else f"{k} is missing" for k, v in want.items() if got.get(k) != v]
  return wrong + [f"{k} is not in the model" for k in got if k not in want]


def _check_contents(name: str, model_config: dict, params: dict, tables: dict[str, CdfTables],
                    boundaries: np.ndarray) -> None:
  """Refuses a bundle whose parts do not fit its model: what the codec would otherwise meet as a
  traceback halfway through a file."""
  if model_config.get("name") not in CODED:
    raise BundleError(f"{name} holds model {model_config.get('name')!r}, which jgc cannot code; codable: {CODED}")
  try:
    coding = build_model(model_config).coding()
    wrong = param_mismatches(model_config, params)
  except (TypeError, ValueError, KeyError) as e:  # fields the model does not take, or values it refuses
    raise BundleError(f"{name} has a model block jgc cannot build: {type(e).__name__}: {e}") from None
  if wrong:
    raise BundleError(f"{name} has parameters that do not fit its {model_config['name']} model: "
                      + "; ".join(wrong[:3]) + ("; ..." if len(wrong) > 3 else ""))
  leaves = jax.tree.leaves(params)
  if not all(isinstance(a, np.ndarray) and a.dtype == np.float32 and np.all(np.isfinite(a)) for a in leaves):
    raise BundleError(f"{name} has parameters that are not finite float32 arrays")
  if sorted(tables) != sorted(coding.streams):
    raise BundleError(f"{name} has coding tables for streams {sorted(tables)}; its model codes {list(coding.streams)}")
  if coding.conditional is not None:
    count = tables[coding.conditional].num_tables - 1
    if boundaries.shape != (count,) or not np.all(np.isfinite(boundaries)) or np.any(np.diff(boundaries) < 0):
      raise BundleError(f"{name} has scale boundaries of shape {boundaries.shape}; its tables need {count}, "
                        "finite and increasing")


def _tables(model_config: dict, params: dict) -> dict[str, CdfTables]:
  """Each stream's tables, as the model's `coding()` declares them."""
  model = build_model(model_config)
  coding = model.coding()
  tables = {}
  for name, f in coding.factorized.items():
    prior_params = params_at(params, f.path)
    prior = FactorizedPrior(np.shape(prior_params["quantiles"])[0], f.filters, gate_last=f.gate_last)
    tables[name] = factorized_tables(prior, {"params": prior_params})
  if coding.learned_pmf is not None:
    name, method = coding.learned_pmf
    pmf = np.exp2(np.asarray(model.apply({"params": params}, method=method), np.float64))
    tables[name] = CdfTables.from_pmfs(list(pmf), np.zeros(len(pmf), np.int32))
  if coding.conditional is not None:
    tables[coding.conditional] = scale_tables(coding.distribution)
  return tables


def build(model_config: dict, params: dict, boundaries: np.ndarray = SNAP_BOUNDARIES) -> bytes:
  """The bundle file's bytes for a model block and its parameters.

  `boundaries`: where scales snap to the next table entry (default: the
  geometric midpoints, the nearest entry; imported models keep their source's rule).
  """
  model_config = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(model_config).items()}
  if model_config.get("name") not in CODED:
    raise BundleError(f"model {model_config.get('name')!r} cannot be exported; codable: {CODED}")
  params = jax.tree.map(np.asarray, params)
  return MAGIC + _payload(model_config, params, _tables(model_config, params), boundaries)


def load(path: str) -> Bundle:
  """Reads a bundle file (a local path or gs:// URL); `BundleError` names what is wrong with it."""
  try:
    data = paths.resolve(path).read_bytes()
  except OSError as e:
    raise BundleError(f"cannot read model bundle {path}: {e.strerror or e}") from None
  return parse(data, path)


def parse(data: bytes, name: str = "bundle") -> Bundle:
  if not data.startswith(MAGIC):
    raise BundleError(f"{name} is not a jgc model bundle (no {MAGIC!r} header)")
  payload = data[len(MAGIC):]
  try:
    tree = serialization.msgpack_restore(payload)
    version = int(tree["version"])
    if version != VERSION:
      raise BundleError(f"{name} has bundle format version {version}; this jgc reads version {VERSION}")
    model_config = json.loads(tree["model"])
    tables = {k: CdfTables.from_arrays(v) for k, v in tree["tables"].items()}
    boundaries = np.asarray(tree["boundaries"], np.float32)
    params = tree["params"]
    if not isinstance(model_config, dict) or not isinstance(params, dict):
      raise BundleError(f"{name} is a corrupt model bundle: its model block or parameters are not maps")
  except BundleError:
    raise
  except Exception as e:  # msgpack, table validation and missing keys all mean the same to the user
    raise BundleError(f"{name} is a corrupt model bundle: {type(e).__name__}: {e}") from None
  _check_contents(name, model_config, params, tables, boundaries)
  return Bundle(model_config, params, tables, boundaries, hashlib.sha256(payload).digest()[:8])
