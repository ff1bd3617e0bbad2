"""CompressAI's hyperprior models as jgc bundles: bmshj2018-hyperprior, mbt2018-mean, mbt2018.

Reads a CompressAI checkpoint (its zoo's files, or `torch.save(model.state_dict())`,
zip or legacy format, also inside a training checkpoint's "state_dict") without
torch, maps every parameter onto `HyperpriorCodec`, and checks that none is
left over or missing. The imported model computes what CompressAI's computes
(CompressAI `models/google.py`, `layers/gdn.py`, `entropy_models/entropy_models.py`):
- its layers: PyTorch-aligned padding (`padding="TORCH"`), LeakyReLU slope
  0.01, a factorized prior with filters (3, 3, 3, 3);
- conv kernels `(O, I, kh, kw)` -> `(kh, kw, I, O)`; transposed-conv kernels
  `(I, O, kh, kw)` -> `(kh, kw, I, O)` flipped in space (PyTorch's transposed
  convolution is the adjoint of its convolution; Flax's does not flip);
- GDN's beta and gamma and the factorized prior's parameters are stored in the
  same reparameterizations by both, so they carry over as they are, once the
  pedestals and bounds in the file are checked to be jgc's;
- CompressAI orders the Gaussian parameters (scales, means), jgc (means,
  scales): the last layer's output channels are swapped.
Derived tables (`_quantized_cdf`, `_offset`, `_cdf_length`, `scale_table`)
are ignored; the bundle builds its own, with CompressAI's rule for snapping a
scale to its 64-entry table (the smallest entry at or above it;
`GaussianConditional.build_indexes`) where jgc's own models take the nearest.
"""

import re

import numpy as np

from jgc.codec import bundle as bundles
from jgc.codec.torch_import import (
  CheckpointMismatch,
  Reader,
  check_constants,
  check_shapes,
  factorized_prior,
  hyper_synthesis,
  load_state_dict,
  prior_key,
  strip_prefix,
)
from jgc.entropy.gaussian import SCALE_TABLE
from jgc.models.hyperprior import COMPRESSAI_LAYERS

ARCHS = {"bmshj2018-hyperprior": "scale", "mbt2018-mean": "mean_scale", "mbt2018": "autoregressive"}
# Buffers whose values must be these for the parameters to mean what jgc reads them as.
_CONSTANTS = {r"\.(beta|gamma)_reparam\.pedestal$": 2.0**-36,
              r"\.beta_reparam\.lower_bound\.bound$": float(np.sqrt(1e-6 + 2.0**-36)),
              r"\.gamma_reparam\.lower_bound\.bound$": 2.0**-18,
              r"likelihood_lower_bound\.bound$": 1e-9,
              r"gaussian_conditional\.(lower_bound_scale\.bound|scale_bound)$": 0.11}
_IGNORED = re.compile(r"(_quantized_cdf|_offset|_cdf_length|scale_table|entropy_bottleneck\.target|"
                      r"context_prediction\.mask)$")


# A scale snaps to table entry i when table[i - 1] < scale <= table[i].
ROUND_UP_BOUNDARIES = SCALE_TABLE[:-1].astype(np.float32)


def model_config(arch: str, channels: int, latent_channels: int) -> dict:
  """The `model` block of an imported CompressAI architecture."""
  return {"name": "hyperprior", "prior": ARCHS[arch], "channels": channels, "latent_channels": latent_channels,
          **COMPRESSAI_LAYERS}


def _state_dict(path: str) -> dict[str, np.ndarray]:
  # A zoo file, or a training checkpoint of CompressAI's examples/train.py ("state_dict").
  state, _ = load_state_dict(path, "state_dict")
  return {_canonical(k): v for k, v in state.items()}


def _canonical(key: str) -> str:
  """Today's CompressAI names: no DataParallel prefix, `entropy_bottleneck.matrices.i`."""
  return prior_key(strip_prefix(key), "entropy_bottleneck")


def _swap_halves(a: np.ndarray) -> np.ndarray:
  """(scales, means) -> (means, scales) along the last axis."""
  half = a.shape[-1] // 2
  return np.concatenate([a[..., half:], a[..., :half]], axis=-1)


def _ignored(key: str) -> bool:
  return bool(_IGNORED.search(key)) or any(re.search(p, key) for p in _CONSTANTS)


def _gdn(read: Reader, prefix: str) -> dict:
  return {"beta": read(f"{prefix}.beta"), "gamma": read(f"{prefix}.gamma")}


def convert(arch: str, state: dict[str, np.ndarray], path: str = "checkpoint") -> tuple[dict, dict]:
  """`(model config, params)` of CompressAI's `arch` from its state_dict."""
  if arch not in ARCHS:
    raise CheckpointMismatch(f"unknown architecture {arch!r}; importable: {', '.join(ARCHS)}")
  check_constants(state, _CONSTANTS, path)
  read = Reader(state, path, _ignored)
  analysis = {}
  for i in range(4):
    analysis[f"Conv_{i}"] = read.conv(f"g_a.{2 * i}")
    if i < 3:
      analysis[f"GDN_{i}"] = _gdn(read, f"g_a.{2 * i + 1}")
  synthesis = {}
  for i in range(4):
    synthesis[f"ConvTranspose_{i}"] = read.conv(f"g_s.{2 * i}", transposed=True)
    if i < 3:
      synthesis[f"GDN_{i}"] = _gdn(read, f"g_s.{2 * i + 1}")
  n, m = analysis["Conv_0"]["kernel"].shape[-1], analysis["Conv_3"]["kernel"].shape[-1]
  params = {
      "analysis": analysis, "synthesis": synthesis,
      "hyper_analysis": {f"Conv_{i}": read.conv(f"h_a.{2 * i}") for i in range(3)},
      "hyper_synthesis": hyper_synthesis(read, "h_s"),
      "z_prior": factorized_prior(read, "entropy_bottleneck", layers=len(COMPRESSAI_LAYERS["prior_filters"]) + 1)[0],
  }
  last = params["hyper_synthesis"]["Conv_0"]
  if arch == "mbt2018":
    params["context"] = read.conv("context_prediction")
    params["entropy_parameters"] = {f"Conv_{i}": read.conv(f"entropy_parameters.{2 * i}") for i in range(3)}
    last = params["entropy_parameters"]["Conv_2"]
  if arch != "bmshj2018-hyperprior":
    last["kernel"], last["bias"] = _swap_halves(last["kernel"]), _swap_halves(last["bias"])
  read.check_all_taken(arch)
  config = model_config(arch, n, m)
  check_shapes(config, params, path, f"{config['prior']} with N={n}, M={m}")
  return config, params


def load(arch: str, path: str) -> tuple[dict, dict]:
  """`(model config, params)` of the CompressAI checkpoint file `path`."""
  return convert(arch, _state_dict(path), path)


def bundle_bytes(arch: str, path: str) -> bytes:
  """The jgc bundle of the CompressAI checkpoint file `path`."""
  config, params = load(arch, path)
  return bundles.build(config, params, ROUND_UP_BOUNDARIES)
