"""What the importers of PyTorch checkpoints share: layouts, a reader that
accounts for every parameter, and a shape check against jgc's model.

PyTorch stores conv kernels `(O, I, kh, kw)` and transposed-conv kernels
`(I, O, kh, kw)`; Flax's are `(kh, kw, I, O)`, and its transposed convolution
does not flip the kernel in space where PyTorch's (the adjoint of its
convolution) does.
"""

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping

import numpy as np

from jgc import errors
from jgc.codec.bundle import param_mismatches
from jgc.io import torch_files


class CheckpointMismatch(errors.Error, ValueError):
  """The checkpoint is not the named architecture, or has parameters jgc does not map."""


def conv_kernel(w: np.ndarray) -> np.ndarray:
  return w.transpose(2, 3, 1, 0)


def deconv_kernel(w: np.ndarray) -> np.ndarray:
  return w.transpose(2, 3, 0, 1)[::-1, ::-1]


_NAMED = "is it the architecture named?"


class Reader:
  """Takes parameters out of a state_dict by name; what is never taken (nor `ignored`) is reported."""

  def __init__(self, state: dict[str, np.ndarray], path: str, ignored: Callable[[str], bool]):
    self._state, self._path, self._ignored, self._taken = state, path, ignored, set()

  def has(self, key: str) -> bool:
    return key in self._state

  def __call__(self, key: str, hint: str = _NAMED) -> np.ndarray:
    if key not in self._state:
      raise CheckpointMismatch(f"{self._path}: no parameter {key!r}; {hint}")
    self._taken.add(key)
    return self._state[key].astype(np.float32)

  def conv(self, prefix: str, transposed: bool = False) -> dict:
    kernel = (deconv_kernel if transposed else conv_kernel)(self(f"{prefix}.weight"))
    return {"kernel": kernel, "bias": self(f"{prefix}.bias")}

  def check_all_taken(self, what: str) -> None:
    left = sorted(k for k in self._state if k not in self._taken and not self._ignored(k))
    if left:
      raise CheckpointMismatch(f"{self._path}: parameters that {what} does not have: {', '.join(left)}")


def channel_norm(read: Reader, prefix: str, hint: str) -> dict:
  """A ChannelNorm's `(1, C, 1, 1)` gamma and beta as jgc's scale and bias."""
  return {"scale": read(f"{prefix}.gamma", hint).reshape(-1), "bias": read(f"{prefix}.beta", hint).reshape(-1)}


@dataclasses.dataclass(frozen=True)
class HiFiCKeys:
  """Where a PyTorch HiFiC keeps E's and G's layers (Mentzer 2020's E and G; every port names them its own
  way): each a state_dict prefix, or a function from a layer's index to prefixes."""

  encoder: Callable[[int], tuple[str, str]]  # E's conv and ChannelNorm i, for i in 0..4
  encoder_out: str  # E's last conv
  generator_in: tuple[str, str, str]  # G's ChannelNorm, conv, ChannelNorm
  residual: Callable[[int], tuple[str, str, str, str]]  # block b's conv, ChannelNorm, conv, ChannelNorm
  upsampling: Callable[[int], tuple[str, str]]  # G's transposed conv and ChannelNorm i, for i in 0..3
  generator_out: str  # G's last conv
  hint: str  # what a missing parameter suggests


def hific_transforms(read: Reader, keys: HiFiCKeys) -> tuple[dict, dict, int]:
  """`(E's params, G's params, G's residual block count)`, in the layout of `jgc.models.transforms`."""
  norm = functools.partial(channel_norm, read, hint=keys.hint)
  encoder = {}
  for i in range(5):
    conv, channel_norm_ = keys.encoder(i)
    encoder[f"Conv_{i}"], encoder[f"ChannelNorm_{i}"] = read.conv(conv), norm(channel_norm_)
  encoder["Conv_5"] = read.conv(keys.encoder_out)
  first, conv, second = keys.generator_in
  generator = {"ChannelNorm_0": norm(first), "Conv_0": read.conv(conv), "ChannelNorm_1": norm(second)}
  blocks = 0
  while read.has(f"{keys.residual(blocks)[0]}.weight"):
    conv_0, norm_0, conv_1, norm_1 = keys.residual(blocks)
    generator[f"ResidualBlock_{blocks}"] = {"Conv_0": read.conv(conv_0), "ChannelNorm_0": norm(norm_0),
                                            "Conv_1": read.conv(conv_1), "ChannelNorm_1": norm(norm_1)}
    blocks += 1
  for i in range(4):
    conv, channel_norm_ = keys.upsampling(i)
    generator[f"ConvTranspose_{i}"] = read.conv(conv, transposed=True)
    generator[f"ChannelNorm_{i + 2}"] = norm(channel_norm_)
  generator["Conv_1"] = read.conv(keys.generator_out)
  return encoder, generator, blocks


def hyper_synthesis(read: Reader, prefix: str) -> dict:
  """A CompressAI-style hyper-synthesis `Sequential` at `prefix` (transposed conv, ReLU, transposed conv,
  ReLU, conv: CompressAI's `h_s`, NC's `hyper_synthesis_mean` / `_scale`) as `jgc.models.hyper.HyperSynthesis`."""
  return {"ConvTranspose_0": read.conv(f"{prefix}.0", transposed=True),
          "ConvTranspose_1": read.conv(f"{prefix}.2", transposed=True), "Conv_0": read.conv(f"{prefix}.4")}


def factorized_prior(read: Reader, prefix: str, hint: str = _NAMED,
                     layers: int | None = None) -> tuple[dict, tuple[int, ...]]:
  """`(params, hidden widths)` of CompressAI's `EntropyBottleneck` at `prefix` (today's key names, see
  `prior_key`) as `jgc.entropy.factorized.FactorizedPrior`; CompressAI gates every layer but the last.
  `layers`: how many the architecture has (a missing one is named); None: as many as the file holds."""
  params = {"quantiles": read(f"{prefix}.quantiles", hint).reshape(-1, 3)}
  if layers is None:
    layers = 0
    while read.has(f"{prefix}.matrices.{layers}"):
      layers += 1
  for k in range(max(layers, 1)):  # with none at all, the first is named missing
    params[f"matrix_{k}"] = read(f"{prefix}.matrices.{k}", hint)
    params[f"bias_{k}"] = read(f"{prefix}.biases.{k}", hint)
    if k < layers - 1:
      params[f"factor_{k}"] = read(f"{prefix}.factors.{k}", hint)
  # matrix k is (channels, out, in): the hidden widths are the outputs of all but the last.
  return params, tuple(int(params[f"matrix_{k}"].shape[1]) for k in range(layers - 1))


def strip_prefix(key: str) -> str:
  """A state_dict key without DataParallel's "module." prefix."""
  return re.sub(r"^module\.", "", key)


# Older CompressAI names of a factorized prior's parameters (`_matrix0`, zoo files' `_matrices.0`).
_PLURAL = {"matrix": "matrices", "matrices": "matrices", "bias": "biases", "biases": "biases",
           "factor": "factors", "factors": "factors"}


def prior_key(key: str, prefix: str) -> str:
  """`key` with today's CompressAI names for the factorized prior at `prefix` (`prefix.matrices.i`):
  CompressAI 1.2.4 and older register `_matrix0`, later ones a ParameterList (its `models/utils.py`
  `KEY_MAP` maps the old names on load), so files of either age read alike."""
  old = re.fullmatch(re.escape(prefix) + r"\._([a-z]+)\.?(\d+)", key)
  if old and old[1] in _PLURAL:
    return f"{prefix}.{_PLURAL[old[1]]}.{old[2]}"
  return key


def check_constants(state: Mapping[str, np.ndarray], constants: Mapping[str, float], path: str) -> None:
  """Refuses `state` unless each buffer matching a regex of `constants` holds its value: the
  bounds and pedestals the parameters are read under."""
  for key, value in state.items():
    for pattern, expected in constants.items():
      if re.search(pattern, key) and not np.allclose(value, expected, rtol=1e-6, atol=0):
        raise CheckpointMismatch(f"{path}: {key} is {float(np.ravel(value)[0]):g}, jgc's model needs {expected:g}")


def load_state_dict(path: str, wrapper_key: str) -> tuple[dict[str, np.ndarray], Mapping]:
  """`(state_dict, the checkpoint around it)` of a torch file: a bare state_dict (then `{}`
  around it), or a training checkpoint holding it under `wrapper_key`. Keys lose "module."."""
  obj, wrapper = torch_files.load(path), {}
  if isinstance(obj, Mapping) and isinstance(obj.get(wrapper_key), Mapping):
    wrapper, obj = obj, obj[wrapper_key]
  if not isinstance(obj, Mapping):
    raise CheckpointMismatch(f"{path}: holds a {type(obj).__name__}, not a state_dict")
  return {strip_prefix(k): np.asarray(v) for k, v in obj.items()}, wrapper


def check_shapes(config: dict, params: dict, path: str, what: str, image_hw: tuple[int, int] = (64, 64)) -> None:
  """Refuses `params` unless every leaf has the shape jgc's model of `config` gives it."""
  wrong = param_mismatches(config, params, image_hw)
  if wrong:
    raise CheckpointMismatch(f"{path}: parameter shapes do not fit {what}: " + "; ".join(wrong[:3]))
