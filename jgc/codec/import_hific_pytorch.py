"""The PyTorch HiFiC port's checkpoints as jgc bundles (Justin-Tan/high-fidelity-generative-compression).

Reads a checkpoint as the port's `utils.save_model` writes it (the model's
state_dict under "model_state_dict", or a bare state_dict) without torch, and
maps E, G and the hyperprior onto jgc's `HiFiC`; the discriminator, the LPIPS
network, optimizer states and the port's coding tables are skipped. Widths,
the latent and hyper-latent channels and the number of residual blocks come
from the parameters' shapes. The imported model computes what the port's
computes in eval mode (its `network/encoder.py`, `network/generator.py`,
`network/hyper.py`, `hyperprior.py`, `compression/hyperprior_model.py`):
- `padding="REFLECT"`: the port's reflection padding, and PyTorch's alignment
  of its transposed convolutions;
- ChannelNorm: the same (unbiased variance, epsilon 1e-3); its `(1, C, 1, 1)`
  gamma and beta become jgc's scale and bias;
- the hyper-synthesis nets end in a stride-1 transposed conv, which is the
  convolution with the kernel flipped; the scales are lower-bounded at 0.11
  without an activation, as jgc's;
- the factorized density `HyperpriorDensity` (H_k, b_k, a_k) is jgc's
  (matrix, bias, factor) with the last layer gated too (`prior_gate_last`);
- the port rounds z around 0, not around medians, so the imported quantiles
  carry 0 as their middle value and the tails where the density's CDF reaches
  jgc's tail mass;
- a run with `normalize_input_image` (the published low and high rate
  models) reads images in [-1, 1] and ends G in tanh: `signed_images`;
- a run with `likelihood_type="logistic"` (the published medium rate model)
  models y as logistic: `likelihood="logistic"`, with its own coding tables.
Runs with sampled noise in G, the mixture (DLMM) hyperprior or InstanceNorm
are refused by name. Images whose sides are not multiples of 64 code correctly but not
bit-for-bit as the port's: the port reflect-pads y to a multiple of 4 before
the hyper-analysis, where jgc pads by the convolutions' rule and crops.
"""

from collections.abc import Mapping

import numpy as np

from jgc.codec import bundle as bundles
from jgc.codec.torch_import import (
  CheckpointMismatch,
  HiFiCKeys,
  Reader,
  check_shapes,
  hific_transforms,
  load_state_dict,
)
from jgc.entropy.factorized import FactorizedPrior

# Parts of the port's model that the codec does not use.
_SKIPPED = ("Discriminator.", "perceptual_loss.", "Hyperprior.hyperprior_entropy_model.",
            "Hyperprior.prior_density.", "Hyperprior.prior_entropy_model.")
_LAYERS = len(FactorizedPrior.filters) + 1
_NOT_STANDARD = "is it the port's HiFiC with ChannelNorm, no sampled noise and the Gaussian hyperprior?"


# The port's arguments that change what its model computes, and the values jgc supports.
_SUPPORTED_ARGS = {"likelihood_type": ("gaussian", "logistic"), "sample_noise": (False,),
                   "use_latent_mixture_model": (False,), "use_channel_norm": (True,),
                   "normalize_input_image": (False, True)}


def _fields(args: Mapping, path: str) -> dict:
  """The config fields the run's arguments set; refuses arguments jgc's HiFiC cannot reproduce."""
  for name, supported in _SUPPORTED_ARGS.items():
    if name in args and args[name] not in supported:
      raise CheckpointMismatch(f"{path}: trained with {name}={args[name]!r}; jgc imports only {name} in {supported}")
  return {"signed_images": bool(args.get("normalize_input_image", False)),
          "likelihood": args.get("likelihood_type", "gaussian")}


# The port's E and G (`network/encoder.py`, `network/generator.py`): conv blocks are (pad, conv, ChannelNorm, ReLU).
_KEYS = HiFiCKeys(
    encoder=lambda i: (f"Encoder.conv_block{i + 1}.1", f"Encoder.conv_block{i + 1}.2"),
    encoder_out="Encoder.conv_block_out.1",
    generator_in=("Generator.conv_block_init.0", "Generator.conv_block_init.2", "Generator.conv_block_init.3"),
    residual=lambda b: tuple(f"Generator.resblock_{b}.{name}" for name in ("conv1", "norm1", "conv2", "norm2")),
    upsampling=lambda i: (f"Generator.upconv_block{i + 1}.0", f"Generator.upconv_block{i + 1}.1"),
    generator_out="Generator.conv_block_out.1", hint=_NOT_STANDARD)


def _logits(x: np.ndarray, density: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
  """The port's `cdf_logits` at channel-major points `(C, 1, K)`, in float64."""
  for matrix, bias, factor in density:
    x = np.matmul(np.logaddexp(0.0, matrix), x) + bias
    x = x + np.tanh(factor) * np.tanh(x)
  return x


def tail_quantiles(density: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tail_mass: float) -> np.ndarray:
  """`(C, 2)`: where each channel's CDF is `tail_mass / 2` and `1 - tail_mass / 2`, by bisection."""
  channels = density[0][0].shape[0]
  target = np.log(2.0 / tail_mass - 1.0)
  bounds = []
  for goal in (-target, target):
    lo, hi = np.full((channels, 1, 1), -1e6), np.full((channels, 1, 1), 1e6)
    for _ in range(100):  # from 2e6 wide to below float32 resolution
      mid = (lo + hi) / 2
      below = _logits(mid, density) < goal
      lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    bounds.append(((lo + hi) / 2).reshape(channels))
  return np.stack(bounds, axis=1)


def convert(state: dict[str, np.ndarray], args: Mapping | None = None, path: str = "checkpoint") -> tuple[dict, dict]:
  """`(model config, params)` of the port's HiFiC from its model's state_dict and its run's arguments."""
  fields = _fields(args or {}, path)
  read = Reader(state, path, lambda k: k.startswith(_SKIPPED))
  encoder, generator, blocks = hific_transforms(read, _KEYS)

  def synthesis(name: str) -> dict:
    return {"ConvTranspose_0": read.conv(f"Hyperprior.{name}.conv1", transposed=True),
            "ConvTranspose_1": read.conv(f"Hyperprior.{name}.conv2", transposed=True),
            # A stride-1 transposed conv is the convolution with the kernel flipped in space.
            "Conv_0": read.conv(f"Hyperprior.{name}.conv3", transposed=True)}

  density = [tuple(read(f"Hyperprior.hyperlatent_likelihood.{p}_{k}", _NOT_STANDARD) for p in "Hba")
             for k in range(_LAYERS)]
  tails = tail_quantiles([tuple(a.astype(np.float64) for a in layer) for layer in density],
                         FactorizedPrior.tail_mass)
  z_prior = {"quantiles": np.stack([tails[:, 0], np.zeros(len(tails)), tails[:, 1]], axis=1).astype(np.float32)}
  for k, (matrix, bias, factor) in enumerate(density):
    z_prior.update({f"matrix_{k}": matrix, f"bias_{k}": bias, f"factor_{k}": factor})
  params = {"encoder": encoder, "generator": generator, "hyperprior": {
      "analysis": {f"Conv_{i}": read.conv(f"Hyperprior.analysis_net.conv{i + 1}") for i in range(3)},
      "mean_synthesis": synthesis("synthesis_mu"), "scale_synthesis": synthesis("synthesis_std"),
      "z_prior": z_prior}}
  read.check_all_taken("the port's HiFiC")
  config = {"name": "hific",
            "encoder_channels": [encoder[f"Conv_{i}"]["kernel"].shape[-1] for i in range(5)],
            "generator_channels": [generator["Conv_0"]["kernel"].shape[-1]]
            + [generator[f"ConvTranspose_{i}"]["kernel"].shape[-1] for i in range(4)],
            "latent_channels": encoder["Conv_5"]["kernel"].shape[-1],
            "hyper_channels": params["hyperprior"]["analysis"]["Conv_0"]["kernel"].shape[-1],
            "num_residual_blocks": blocks, "padding": "REFLECT", "prior_gate_last": True, **fields}
  check_shapes(config, params, path, f"HiFiC with {blocks} residual blocks", image_hw=(128, 128))
  return config, params


def load(path: str) -> tuple[dict, dict]:
  """`(model config, params)` of the port's checkpoint file `path`."""
  state, checkpoint = load_state_dict(path, "model_state_dict")
  # A bare state_dict has the port's default arguments.
  args = checkpoint.get("args")
  return convert(state, args if isinstance(args, Mapping) else {}, path)


def bundle_bytes(path: str) -> bytes:
  """The jgc bundle of the port's checkpoint file `path`."""
  return bundles.build(*load(path))
