"""NeuralCompression's MS-ILLM VQ-VAE as a jgc labeler file (facebookresearch/NeuralCompression).

The released `vqvae_xcit_p8_ch64_cb1024_h8.ckpt` is a bare state_dict of `VqVaeXCiTAutoencoder`
(NC `neuralcompression/zoo/_msillm_vqvae.py`), which MS-ILLM's training wraps in `VqVaeProjector`
(`models/_vqvae_projector.py`): its encoder, the bottleneck's input projection and the codebook
give the discriminator's targets. This reads such a file without torch and maps those parameters
onto `jgc.models.illm.VQLabeler`:
- the encoder (`models/_vqvae_xcit_autoencoder.py`, `_VqVaeXCiTConvEncoder`): `conv_in`, per level
  `block.b` (`norm1`, `conv1`, `norm2`, `conv2`, `nin_shortcut`), `attn.b` (`norm`, `xca.qkv`,
  `xca.proj`, `xca.temperature`; `layers/_xca.py`) and `downsample.conv`, then `mid.0..2`,
  `norm_out`, `conv_out`; ChannelNorm's `(1, C, 1, 1)` gamma and beta as jgc's scale and bias;
- `bottleneck_op.input_conv` (`layers/_project_latent.py`) and the codebook
  `bottleneck_op.child.child.codebooks.0` (`layers/_vq_bottleneck.py`).
The decoder, the bottleneck's output projection and the codebook's usage counters are not needed for
the labels and are ignored. Widths, levels, residual blocks, where attention is, the code length and
the codebook size come from the parameters' shapes and names, so narrower files of the same code
import too.
"""

import re

import numpy as np

from jgc.codec import labeler
from jgc.codec.torch_import import CheckpointMismatch, Reader, channel_norm, load_state_dict

__all__ = ["CheckpointMismatch", "convert", "labeler_bytes", "load"]

_WHAT = "NeuralCompression's VqVaeXCiTAutoencoder"
_HINT = f"is it {_WHAT} (MS-ILLM's vqvae_xcit_*.ckpt)?"
_IGNORED = re.compile(r"^(decoder\.|bottleneck_op\.output_conv\.|bottleneck_op\.child\.child\."
                      r"(codebook_hits_\d+|perplexities|max_hits|percentage_hits)$)")
_CODEBOOK = "bottleneck_op.child.child.codebooks.0"


def _dense(read: Reader, prefix: str) -> dict:
  return {"kernel": read(f"{prefix}.weight", _HINT).T, "bias": read(f"{prefix}.bias", _HINT)}


def _resnet_block(read: Reader, prefix: str) -> dict:
  params = {"norm_0": channel_norm(read, f"{prefix}.norm1", _HINT), "conv_0": read.conv(f"{prefix}.conv1"),
            "norm_1": channel_norm(read, f"{prefix}.norm2", _HINT), "conv_1": read.conv(f"{prefix}.conv2")}
  if read.has(f"{prefix}.nin_shortcut.weight"):
    params["shortcut"] = read.conv(f"{prefix}.nin_shortcut")
  return params


def _attention(read: Reader, prefix: str) -> dict:
  return {"norm": channel_norm(read, f"{prefix}.norm", _HINT), "qkv": _dense(read, f"{prefix}.xca.qkv"),
          "proj": _dense(read, f"{prefix}.xca.proj"),
          "temperature": read(f"{prefix}.xca.temperature", _HINT).reshape(-1)}


def _count(read: Reader, pattern: str) -> int:
  n = 0
  while read.has(pattern.format(n)):
    n += 1
  return n


def _encoder(read: Reader, path: str) -> tuple[dict, dict]:
  """`(params, VQLabeler's encoder fields)` of NC's `encoder.*`."""
  params = {"conv_in": read.conv("encoder.conv_in")}
  levels = _count(read, "encoder.down.{}.block.0.conv1.weight")
  blocks = _count(read, "encoder.down.0.block.{}.conv1.weight")
  if not levels or not blocks:
    read("encoder.down.0.block.0.conv1.weight", _HINT)  # refuses the file, naming the parameter
  attention = [i for i in range(levels) if read.has(f"encoder.down.{i}.attn.0.norm.gamma")]
  for i in range(levels):
    for b in range(blocks):
      params[f"level_{i}_block_{b}"] = _resnet_block(read, f"encoder.down.{i}.block.{b}")
      if i in attention:
        params[f"level_{i}_attention_{b}"] = _attention(read, f"encoder.down.{i}.attn.{b}")
    if i != levels - 1:
      params[f"level_{i}_down"] = read.conv(f"encoder.down.{i}.downsample.conv")
  params.update(mid_block_0=_resnet_block(read, "encoder.mid.0"), mid_attention=_attention(read, "encoder.mid.1"),
                mid_block_1=_resnet_block(read, "encoder.mid.2"),
                norm_out=channel_norm(read, "encoder.norm_out", _HINT), conv_out=read.conv("encoder.conv_out"))
  channels = int(params["conv_in"]["kernel"].shape[-1])
  widths = [int(params[f"level_{i}_block_0"]["conv_0"]["kernel"].shape[-1]) for i in range(levels)]
  if any(w % channels for w in widths):
    raise CheckpointMismatch(f"{path}: level widths {widths} are not multiples of conv_in's {channels}")
  return params, {"channels": channels, "channel_multipliers": [w // channels for w in widths],
                  "num_res_blocks": blocks, "attention_levels": attention,
                  "embed_channels": int(params["conv_out"]["kernel"].shape[-1])}


def convert(state: dict[str, np.ndarray], path: str = "checkpoint") -> tuple[dict, dict]:
  """`(VQLabeler's fields, its params)` of NC's VqVaeXCiTAutoencoder from its state_dict."""
  read = Reader(state, path, lambda key: bool(_IGNORED.search(key)))
  params, config = _encoder(read, path)
  params["project"] = read.conv("bottleneck_op.input_conv")
  params["codebook"] = read(_CODEBOOK, _HINT)
  read.check_all_taken(f"{_WHAT}'s encoder and bottleneck")
  config.update(code_channels=int(params["project"]["kernel"].shape[-1]),
                codebook_size=int(params["codebook"].shape[0]))
  wrong = labeler.mismatches(config, params)
  if wrong:
    raise CheckpointMismatch(f"{path}: parameter shapes do not fit {_WHAT}'s encoder: " + "; ".join(wrong[:3]))
  return config, params


def load(path: str) -> tuple[dict, dict]:
  """`(VQLabeler's fields, its params)` of NC's checkpoint file `path`: a bare state_dict, as released."""
  state, _ = load_state_dict(path, "state_dict")
  return convert(state, path)


def labeler_bytes(path: str) -> bytes:
  """The jgc labeler file of NC's VQ-VAE checkpoint file `path`."""
  return labeler.build(*load(path))
