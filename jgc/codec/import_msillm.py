"""NeuralCompression's MS-ILLM and NoGAN-MS checkpoints as jgc bundles (facebookresearch/NeuralCompression).

Every released file (`msillm_quality_vlo1/vlo2/1..6`, `noganms_quality_1..6`) is a bare state_dict
of one architecture, `HiFiCAutoencoder()` at its defaults (NC `neuralcompression/zoo/_msillm.py:28,46-48`,
`zoo/_noganms.py:26,44-46`); they differ only in their weights. This reads such a file without torch and
maps every parameter onto jgc's `HiFiC`, which then computes what NC's eval forward computes
(`neuralcompression/models/_hific_autoencoder.py:230-273`):
- `padding="TORCH"`: NC's convolutions pad with zeros by `k // 2`, and its transposed ones are
  `ConvTranspose2d(padding=k // 2, output_padding=1)` (`_hific_encoder_decoder.py:41-62,126-145`,
  `_hific_autoencoder.py:20-44`): PyTorch's alignment throughout, E's and G's, and the hyper nets';
- E, G and the two hyper-synthesis nets are HiFiC's, with the latter ending in a plain conv
  (`_hific_autoencoder.py:90-120`); ChannelNorm has the same unbiased variance and epsilon 1e-3
  (`neuralcompression/layers/_channel_norm.py:42-52`), its `(1, C, 1, 1)` gamma and beta
  becoming jgc's scale and bias;
- the hyper-latent's prior is CompressAI's `EntropyBottleneck` with its default filters (3, 3, 3, 3)
  (`_hific_autoencoder.py:121`), parametrized as jgc's `FactorizedPrior` with no gate on the last
  layer: `prior_filters`, and z rounds around the learned medians in both;
- y is Gaussian around the means with scales bounded below at 0.11, as jgc's HiFiC; images are read
  in [0, 1] unnormalized (`_hific_autoencoder.py:237`).
Widths (E's, G's, the latent's, the hyper-latent's) and the residual block count come from the
parameters' shapes, so narrower files of the same code import too. The coder tables CompressAI keeps
in the state_dict (`_offset`, `_quantized_cdf`, `_cdf_length`, `scale_table`, the bottleneck's
`target`) are ignored: the bundle builds its own, with CompressAI's rule for snapping a scale to its
table (`import_compressai.ROUND_UP_BOUNDARIES`). The bounds the parameters are read under are
checked to be jgc's. NC pads images to a multiple of 64 by reflection before coding
(`_hific_autoencoder.py:78,297`), jgc to 16: images whose sides are multiples of 64 code as NC's,
others differ near their bottom and right edges, and in rate, as NC also codes its padding.
"""

import re

import numpy as np

from jgc.codec import bundle as bundles
from jgc.codec.import_compressai import ROUND_UP_BOUNDARIES
from jgc.codec.torch_import import (
  CheckpointMismatch,
  HiFiCKeys,
  Reader,
  check_constants,
  check_shapes,
  factorized_prior,
  hific_transforms,
  hyper_synthesis,
  load_state_dict,
  prior_key,
)

__all__ = ["CheckpointMismatch", "bundle_bytes", "convert", "load"]

_PRIOR = "hyper_bottleneck"
# Buffers whose values must be these for the parameters to mean what jgc reads them as
# (CompressAI `entropy_models/entropy_models.py`: its likelihood floor and GaussianConditional's scale bound).
_CONSTANTS = {r"^(hyper|latent)_bottleneck\.likelihood_lower_bound\.bound$": 1e-9,
              r"^latent_bottleneck\.(scale_bound|lower_bound_scale\.bound)$": 0.11}
_IGNORED = re.compile(r"^(hyper|latent)_bottleneck\.(_offset|_quantized_cdf|_cdf_length|scale_table|target)$")
_WHAT = "NeuralCompression's HiFiCAutoencoder"
_HINT = f"is it {_WHAT} (MS-ILLM or NoGAN-MS)?"


def _ignored(key: str) -> bool:
  return bool(_IGNORED.search(key)) or any(re.search(p, key) for p in _CONSTANTS)


# NC's E and G (`_hific_encoder_decoder.py:22-66,103-153`): `encoder.blocks.i` is (conv, ChannelNorm, ReLU),
# a residual block's `sequence` is (conv, ChannelNorm, ReLU, conv, ChannelNorm).
_KEYS = HiFiCKeys(
    encoder=lambda i: (f"encoder.blocks.{i}.0", f"encoder.blocks.{i}.1"), encoder_out="encoder.blocks.5",
    generator_in=("decoder.block_0.0", "decoder.block_0.1", "decoder.block_0.2"),
    residual=lambda b: tuple(f"decoder.resid_blocks.{b}.sequence.{k}" for k in (0, 1, 3, 4)),
    upsampling=lambda i: (f"decoder.blocks.{i}.0", f"decoder.blocks.{i}.1"), generator_out="decoder.blocks.4",
    hint=_HINT)


def convert(state: dict[str, np.ndarray], path: str = "checkpoint") -> tuple[dict, dict]:
  """`(model config, params)` of NC's HiFiCAutoencoder from its state_dict."""
  state = {prior_key(k, _PRIOR): v for k, v in state.items()}
  check_constants(state, _CONSTANTS, path)
  read = Reader(state, path, _ignored)
  encoder, generator, blocks = hific_transforms(read, _KEYS)
  z_prior, prior_filters = factorized_prior(read, _PRIOR, _HINT)
  params = {"encoder": encoder, "generator": generator, "hyperprior": {
      "analysis": {f"Conv_{i}": read.conv(f"hyper_analysis.{2 * i}") for i in range(3)},
      "mean_synthesis": hyper_synthesis(read, "hyper_synthesis_mean"),
      "scale_synthesis": hyper_synthesis(read, "hyper_synthesis_scale"), "z_prior": z_prior}}
  read.check_all_taken(_WHAT)
  config = {"name": "hific",
            "encoder_channels": [int(encoder[f"Conv_{i}"]["kernel"].shape[-1]) for i in range(5)],
            "generator_channels": [int(generator["Conv_0"]["kernel"].shape[-1])]
            + [int(generator[f"ConvTranspose_{i}"]["kernel"].shape[-1]) for i in range(4)],
            "latent_channels": int(encoder["Conv_5"]["kernel"].shape[-1]),
            "hyper_channels": int(params["hyperprior"]["analysis"]["Conv_0"]["kernel"].shape[-1]),
            "num_residual_blocks": blocks, "padding": "TORCH", "prior_filters": list(prior_filters),
            "prior_gate_last": False, "signed_images": False, "likelihood": "gaussian"}
  check_shapes(config, params, path, f"{_WHAT} with {blocks} residual blocks", image_hw=(128, 128))
  return config, params


def load(path: str) -> tuple[dict, dict]:
  """`(model config, params)` of NC's checkpoint file `path`: a bare state_dict, as released."""
  state, _ = load_state_dict(path, "state_dict")
  return convert(state, path)


def bundle_bytes(path: str) -> bytes:
  """The jgc bundle of NC's checkpoint file `path`, coding scales as CompressAI snaps them."""
  return bundles.build(*load(path), ROUND_UP_BOUNDARIES)
